//! `/openapi.json` against the rules that keep a fuzzer generating from it from finding a
//! mismatch: every error is a problem document, each operation names what its inputs and
//! credentials can be refused with, and every request field states its bounds.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Integer request fields the server takes whole, with no bound to state: any seat number is
/// read, and one the date lacks is 404 SEAT_NOT_FOUND (API.md).
const UNBOUNDED_INTEGERS: [&str; 1] = ["NewReservation.seatNumber"];

/// The one error answer that is not a problem: `/healthz` says why the journal fails in a body
/// of its own, since a supervisor reads it.
const NOT_PROBLEMS: [(&str, &str, &str); 1] = [("get", "/healthz", "503")];

async fn document() -> Value {
    document_of(&spawn_app()).await
}

async fn document_of(app: &TestApp) -> Value {
    body(app.get("/openapi.json").await).await
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

/// The schema a `$ref` names, or the schema itself.
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("a local reference");
            document
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{reference} names nothing"))
        }
        None => schema,
    }
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

/// What is missing from a schema for its values to be bounded, if anything.
fn unbounded(document: &Value, schema: &Value, name: &str) -> Vec<String> {
    let schema = resolve(document, schema);
    let has = |keyword: &str| schema.get(keyword).is_some();
    let whole = UNBOUNDED_INTEGERS.contains(&name);
    match schema["type"].as_str() {
        Some("string") if !(has("pattern") || has("format") || has("enum") || has("maxLength")) => {
            vec![format!("{name}: a string with no pattern, format, enum or maxLength")]
        }
        Some("integer") if !(whole || has("minimum") && has("maximum")) => {
            vec![format!("{name}: an integer without minimum and maximum")]
        }
        Some("array") if !(has("minItems") && has("maxItems")) => {
            vec![format!("{name}: an array without minItems and maxItems")]
        }
        Some("array") => unbounded(document, &schema["items"], &format!("{name}[]")),
        Some("object") => {
            let properties = schema["properties"].as_object().cloned().unwrap_or_default();
            let prefix = schema_name(document, schema).unwrap_or_else(|| name.to_string());
            let fields = properties.iter();
            fields
                .flat_map(|(field, schema)| unbounded(document, schema, &format!("{prefix}.{field}")))
                .collect()
        }
        Some("string" | "integer" | "boolean") => Vec::new(),
        Some(other) => vec![format!("{name}: a {other} this test does not know how to bound")],
        None => composed(document, schema, name),
    }
}

/// A schema made of others (`allOf`, `oneOf`, `anyOf`) is bounded when each of its parts is;
/// any other schema without a type admits anything.
fn composed(document: &Value, schema: &Value, name: &str) -> Vec<String> {
    let parts: Vec<&Value> = ["allOf", "oneOf", "anyOf"]
        .iter()
        .filter_map(|keyword| schema[*keyword].as_array())
        .flatten()
        .collect();
    if parts.is_empty() {
        return vec![format!("{name}: a schema with no type")];
    }
    parts
        .into_iter()
        .flat_map(|part| unbounded(document, part, name))
        .collect()
}

/// The component a schema is, if it is one.
fn schema_name(document: &Value, schema: &Value) -> Option<String> {
    let components = document["components"]["schemas"].as_object()?;
    components
        .iter()
        .find(|(_, component)| std::ptr::eq(*component, schema))
        .map(|(name, _)| name.clone())
}

#[tokio::test]
async fn every_request_field_and_parameter_states_its_bounds() {
    let document = document().await;
    let mut missing = Vec::new();
    for operation in operations(&document) {
        let body = &operation.definition["requestBody"]["content"]["application/json"]["schema"];
        if !body.is_null() {
            missing.extend(unbounded(&document, body, &operation.label()));
        }
        for parameter in operation.parameters() {
            let name = format!("{} {}", operation.label(), parameter["name"].as_str().unwrap());
            missing.extend(unbounded(&document, &parameter["schema"], &name));
            assert_ne!(parameter["schema"]["nullable"], true, "{name} cannot be null");
        }
    }
    assert!(missing.is_empty(), "unbounded: {missing:#?}");
}

#[tokio::test]
async fn the_document_carries_the_limits_the_server_was_started_with() {
    let app = spawn_app_with(|config| {
        config.charge_max = 5_000;
        config.seats_per_date_max = 77;
    });
    let document = document_of(&app).await;
    let schemas = &document["components"]["schemas"];
    assert_eq!(schemas["NewCharge"]["properties"]["amount"]["maximum"], 5_000);
    assert_eq!(schemas["NewConcertDate"]["properties"]["price"]["maximum"], 5_000);
    assert_eq!(schemas["NewConcertDate"]["properties"]["seatCount"]["maximum"], 77);
}

/// Every `type` keyword in the document. (A `type` whose value is a schema is a property of
/// that name, such as a problem's.)
fn type_keywords(value: &Value) -> Vec<&Value> {
    match value {
        Value::Object(object) => {
            let own = object.get("type").filter(|kind| !kind.is_object());
            own.into_iter().chain(object.values().flat_map(type_keywords)).collect()
        }
        Value::Array(items) => items.iter().flat_map(type_keywords).collect(),
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn integers_are_draft_4_integers_as_the_server_reads_them() {
    let app = spawn_app();
    let document = document_of(&app).await;
    let version = document["openapi"].as_str().unwrap();
    assert!(
        version.starts_with("3.0."),
        "OpenAPI {version}: its `integer` admits 7.0"
    );
    let listed = type_keywords(&document)
        .into_iter()
        .filter(|kind| !kind.is_string())
        .count();
    assert_eq!(listed, 0, "a list of types is not OpenAPI 3.0");
    let fan = app.fan("Kim").await;
    let charge = app.with_token(Method::POST, "/api/v1/wallet/charges", &fan.token);
    let whole_but_written_as_fraction = charge.json(&json!({"amount": 1000.0})).send().await.unwrap();
    assert_problem(whole_but_written_as_fraction, 400, "INVALID_AMOUNT").await;
    let gate = app
        .admin(Method::PUT, "/api/v1/admin/queue")
        .json(&json!({"activeMax": 10.0}));
    assert_problem(gate.send().await.unwrap(), 400, "INVALID_REQUEST").await;
}
