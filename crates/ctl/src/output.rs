//! How answers are printed: `-o json` (the answer, pretty-printed) or `-o table` (a table by
//! comfy-table: a list's rows with their plain fields as columns and the paging below, or an
//! object's fields, nested ones by dotted name). Table is the default on a terminal, JSON
//! when the output is piped (scripts get what the api said).

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use serde_json::{Map, Value};

/// `-o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable tables.
    Table,
    /// The api's JSON, pretty-printed.
    Json,
}

impl Format {
    /// The format asked for, else table on a terminal and JSON otherwise.
    pub fn or_default(asked: Option<Format>) -> Format {
        use std::io::IsTerminal;
        asked.unwrap_or(if std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Json
        })
    }
}

/// An answer (JSON, or text when it is not JSON) in `f`.
pub fn render(text: &str, f: Format) -> String {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return text.to_string();
    };
    match f {
        Format::Json => serde_json::to_string_pretty(&v).unwrap_or_default(),
        Format::Table => table(&v),
    }
}

/// A scalar as a cell.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn new_table() -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t
}

/// The first field of `o` holding a list of objects (a page's rows).
fn rows(o: &Map<String, Value>) -> Option<(&String, &Vec<Value>)> {
    o.iter().find_map(|(k, v)| match v {
        Value::Array(a) if a.first().is_some_and(Value::is_object) => Some((k, a)),
        _ => None,
    })
}

fn table(v: &Value) -> String {
    match v {
        Value::Object(o) => match rows(o) {
            Some((name, list)) => {
                let mut out = list_table(list);
                let rest: Map<String, Value> = o
                    .iter()
                    .filter(|(k, _)| *k != name)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !rest.is_empty() {
                    out.push('\n');
                    out.push_str(&fields_table(&rest));
                }
                out
            }
            None => fields_table(o),
        },
        Value::Array(a) if a.first().is_some_and(Value::is_object) => list_table(a),
        other => cell(other),
    }
}

/// Rows: the plain (non-nested) fields of the first row are the columns.
fn list_table(list: &[Value]) -> String {
    let columns: Vec<String> = list[0]
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| !v.is_object() && !v.is_array())
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    let mut t = new_table();
    t.set_header(&columns);
    for row in list {
        t.add_row(columns.iter().map(|c| cell(&row[c])));
    }
    t.to_string()
}

/// Field and value, nested objects by dotted name, lists as JSON.
fn fields_table(o: &Map<String, Value>) -> String {
    fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(o) if !o.is_empty() => {
                for (k, v) in o {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&name, v, out);
                }
            }
            other => out.push((prefix.to_string(), cell(other))),
        }
    }
    let mut pairs = Vec::new();
    flatten("", &Value::Object(o.clone()), &mut pairs);
    let mut t = new_table();
    for (k, v) in pairs {
        t.add_row(vec![k, v]);
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_page_is_a_table_of_its_rows_with_the_paging_below() {
        let page = json!({"accounts": [
            {"shopper_id": "s1", "migration_status": "completed", "last_error": null, "run": {}},
            {"shopper_id": "s2", "migration_status": "messages-failure", "last_error": "HTTP 503"}
        ], "total_count": 2, "next": null});
        let t = render(&page.to_string(), Format::Table);
        let header = t.lines().find(|l| l.contains("shopper_id")).unwrap();
        assert!(
            header.contains("migration_status") && !header.contains("run"),
            "{t}"
        );
        assert!(t.contains("HTTP 503") && t.contains("total_count"), "{t}");
    }

    #[test]
    fn an_object_is_its_fields_nested_ones_dotted() {
        let t = render(
            &json!({"paused": true, "refusals_last_minute": {"media": 0}}).to_string(),
            Format::Table,
        );
        assert!(t.contains("refusals_last_minute.media"), "{t}");
    }

    #[test]
    fn json_is_the_answer_and_text_stays_text() {
        assert_eq!(render("{\"a\":1}", Format::Json), "{\n  \"a\": 1\n}");
        assert_eq!(render("not json", Format::Table), "not json");
    }
}
