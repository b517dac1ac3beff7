//! The verdict of an attack scenario: PASS or FAIL, the figures it was decided on, and every rule
//! the run broke, in words.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub scenario: String,
    pub pass: bool,
    /// What was measured, one phrase each.
    pub figures: Vec<String>,
    /// The rules broken; empty when the verdict is PASS.
    pub broken: Vec<String>,
}

/// Collects the figures and checks the rules of one verdict.
#[derive(Debug, Default)]
pub struct Rules {
    figures: Vec<String>,
    broken: Vec<String>,
}

impl Rules {
    pub fn figure(&mut self, figure: impl Into<String>) -> &mut Self {
        self.figures.push(figure.into());
        self
    }

    /// Records `rule` as broken unless it `holds`.
    pub fn require(&mut self, holds: bool, rule: impl FnOnce() -> String) -> &mut Self {
        if !holds {
            self.broken.push(rule());
        }
        self
    }

    pub fn verdict(self, scenario: &str) -> Verdict {
        Verdict {
            scenario: scenario.to_string(),
            pass: self.broken.is_empty(),
            figures: self.figures,
            broken: self.broken,
        }
    }
}

impl Verdict {
    /// `verdict: PASS hoard`, then a line per figure and per broken rule.
    pub fn lines(&self) -> String {
        let mut out = format!(
            "verdict: {} {}\n",
            if self.pass { "PASS" } else { "FAIL" },
            self.scenario
        );
        for figure in &self.figures {
            out += &format!("  {figure}\n");
        }
        for rule in &self.broken {
            out += &format!("  broken: {rule}\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_rule_fails_the_verdict_and_is_printed() {
        let mut rules = Rules::default();
        rules
            .figure("held after leaving: 3")
            .require(true, || "never broken".into())
            .require(false, || "3 seats still HELD after the hoarders left".into());
        let verdict = rules.verdict("hoard");
        assert!(!verdict.pass);
        let lines = verdict.lines();
        assert!(lines.starts_with("verdict: FAIL hoard\n"), "{lines}");
        assert!(lines.contains("  held after leaving: 3\n"), "{lines}");
        assert!(lines.contains("  broken: 3 seats still HELD"), "{lines}");
        assert!(!lines.contains("never broken"), "{lines}");
    }
}
