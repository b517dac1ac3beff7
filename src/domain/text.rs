//! What a person may type into a name or a title: visible text, no control or format characters.

use crate::error::{Error, Result};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Trims `raw` and checks it is 1..=`chars_max` characters of visible text. Control characters
/// (Unicode Cc: NUL, ESC, CR, LF) would let a name rewrite a terminal or a log line, and format
/// characters (Cf: U+202E, zero-width spaces) would let it pose as another name or look empty.
pub fn display_text(raw: &str, chars_max: usize, what: &str) -> Result<String> {
    if let Some(bad) = raw.chars().find(|c| is_hidden(*c)) {
        return Err(Error::invalid_request(format!(
            "{what} must not contain control or format characters (found U+{:04X}).",
            bad as u32
        )));
    }
    let text = raw.trim();
    let chars = text.chars().count();
    if chars == 0 || chars > chars_max {
        return Err(Error::invalid_request(format!(
            "{what} must be 1 to {chars_max} characters after trimming."
        )));
    }
    Ok(text.to_string())
}

/// A control (Cc) or format (Cf) character, refused anywhere in a name or a title.
pub fn is_hidden(c: char) -> bool {
    matches!(c.general_category(), GeneralCategory::Control | GeneralCategory::Format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_text_is_kept_trimmed() {
        assert_eq!(display_text("  김민지 ", 64, "name").unwrap(), "김민지");
        assert_eq!(display_text("Beyoncé & Jay-Z", 64, "name").unwrap(), "Beyoncé & Jay-Z");
        assert_eq!(display_text(&"가".repeat(64), 64, "name").unwrap().chars().count(), 64);
    }

    #[test]
    fn hidden_characters_and_empty_text_are_refused() {
        for raw in [
            "a\0b",
            "\u{1b}[31mred",
            "line\r\nbreak",
            "tab\there",
            "evil\u{202e}txt",
            "\u{200b}",
            "zero\u{200d}joiner",
            "\u{feff}bom",
            "   ",
            "",
        ] {
            assert!(display_text(raw, 64, "name").is_err(), "{raw:?} was accepted");
        }
        assert!(display_text(&"가".repeat(65), 64, "name").is_err());
    }
}
