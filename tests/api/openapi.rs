//! `/openapi.json` against the rules that keep a fuzzer generating from it from finding a
//! mismatch: every error is a problem document, and each operation names what its inputs and
//! credentials can be refused with.

use crate::helpers::*;
use serde_json::Value;

/// The one error answer that is not a problem: `/healthz` says why the journal fails in a body
/// of its own, since a supervisor reads it.
const NOT_PROBLEMS: [(&str, &str, &str); 1] = [("get", "/healthz", "503")];

async fn document() -> Value {
    body(spawn_app().get("/openapi.json").await).await
}

/// An operation of the document: its method, path and definition.
struct Operation {
    method: String,
    path: String,
    definition: Value,
}

impl Operation {
    fn label(&self) -> String {
        format!("{} {}", self.method.to_uppercase(), self.path)
    }

    fn answers(&self, status: &str) -> Option<&Value> {
        self.definition["responses"].get(status)
    }

    fn security(&self) -> Vec<String> {
        let requirements = self.definition["security"].as_array().cloned().unwrap_or_default();
        requirements
            .iter()
            .filter_map(Value::as_object)
            .flat_map(|requirement| requirement.keys().cloned())
            .collect()
    }

    fn parameters(&self) -> Vec<Value> {
        self.definition["parameters"].as_array().cloned().unwrap_or_default()
    }

    fn takes(&self, location: &str) -> bool {
        self.parameters().iter().any(|parameter| parameter["in"] == location)
    }

    fn has_body(&self) -> bool {
        self.definition.get("requestBody").is_some()
    }

    fn takes_idempotency_key(&self) -> bool {
        let parameters = self.parameters();
        parameters
            .iter()
            .any(|parameter| parameter["name"] == "Idempotency-Key")
    }
}

fn operations(document: &Value) -> Vec<Operation> {
    let paths = document["paths"].as_object().expect("paths");
    let mut found = Vec::new();
    for (path, item) in paths {
        for (method, definition) in item.as_object().expect("a path item") {
            found.push(Operation {
                method: method.clone(),
                path: path.clone(),
                definition: definition.clone(),
            });
        }
    }
    assert!(found.len() >= 24, "only {} operations", found.len());
    found
}

#[tokio::test]
async fn every_error_answer_is_a_problem_document() {
    let document = document().await;
    for operation in operations(&document) {
        let responses = operation.definition["responses"].as_object().unwrap();
        for (status, answer) in responses.iter().filter(|(status, _)| status.as_str() >= "400") {
            let exempt = (operation.method.as_str(), operation.path.as_str(), status.as_str());
            if NOT_PROBLEMS.contains(&exempt) {
                continue;
            }
            let content = answer["content"].as_object().unwrap();
            let types: Vec<&String> = content.keys().collect();
            assert_eq!(types, ["application/problem+json"], "{} {status}", operation.label());
            let schema = &content["application/problem+json"]["schema"];
            assert_eq!(
                schema["$ref"],
                "#/components/schemas/Problem",
                "{} {status}",
                operation.label()
            );
        }
    }
    let not_allowed = &document["components"]["responses"]["MethodNotAllowed"];
    assert!(not_allowed["content"].get("application/problem+json").is_some());
    assert_eq!(not_allowed["headers"]["Allow"]["required"], true);
}

/// The statuses an operation must document, from what it takes and who it asks for.
fn statuses_required_of(operation: &Operation) -> Vec<&'static str> {
    let mut required = Vec::new();
    let security = operation.security();
    let parsed = operation.takes("path") || operation.takes("query") || operation.has_body();
    if parsed || operation.takes_idempotency_key() {
        required.push("400");
    }
    if operation.has_body() {
        required.extend(["413", "415"]);
    }
    if security.iter().any(|scheme| scheme.starts_with("queueToken")) {
        required.extend(["401", "429"]);
    }
    if security.iter().any(|scheme| scheme == "adminKey") {
        required.extend(["401", "403"]);
    }
    if operation.takes_idempotency_key() {
        required.extend(["422", "429"]);
    }
    required
}

#[tokio::test]
async fn every_operation_names_what_its_inputs_and_credentials_can_be_refused_with() {
    let document = document().await;
    for operation in operations(&document) {
        for status in statuses_required_of(&operation) {
            assert!(
                operation.answers(status).is_some(),
                "{} does not document {status}",
                operation.label()
            );
        }
    }
}

#[tokio::test]
async fn refusals_name_the_headers_they_always_carry() {
    let document = document().await;
    for operation in operations(&document) {
        for status in ["429", "503"] {
            let exempt = NOT_PROBLEMS.contains(&(operation.method.as_str(), operation.path.as_str(), status));
            let Some(answer) = operation.answers(status).filter(|_| !exempt) else {
                continue;
            };
            let retry_after = &answer["headers"]["Retry-After"];
            assert_eq!(retry_after["required"], true, "{} {status}", operation.label());
            assert_eq!(retry_after["schema"]["minimum"], 1, "{} {status}", operation.label());
        }
        if operation
            .security()
            .iter()
            .any(|scheme| scheme.starts_with("queueToken"))
        {
            let www_authenticate = &operation.answers("401").unwrap()["headers"]["WWW-Authenticate"];
            assert_eq!(www_authenticate["required"], true, "{}", operation.label());
        }
    }
}
