//! XEP-0004: Data Forms, as far as bitcoIM builds and reads them.

use super::element::Element;
use super::ns;
use std::collections::HashMap;

/// A form being built.
pub struct Form {
    x: Element,
}

impl Form {
    /// `kind` is `form`, `result`, `submit` or `cancel`.
    pub fn new(kind: &str) -> Form {
        Form {
            x: Element::new("x", ns::DATA).attr("type", kind),
        }
    }

    pub fn title(mut self, title: &str) -> Form {
        self.x.push(Element::new("title", ns::DATA).text(title));
        self
    }

    pub fn instructions(mut self, text: &str) -> Form {
        self.x
            .push(Element::new("instructions", ns::DATA).text(text));
        self
    }

    /// A field with its values; `label` may be empty.
    pub fn field(mut self, var: &str, kind: &str, label: &str, values: &[&str]) -> Form {
        self.x.push(field(var, kind, label, values));
        self
    }

    /// Text shown as it is: one `fixed` field a line, as XEP-0004 asks
    /// (a fixed field's value should hold no newline).
    /// Each gets a `var` of its own (`line1`, ...), optional for fixed
    /// fields but handy for clients that key fields by name.
    pub fn fixed_lines(mut self, text: &str) -> Form {
        for (i, line) in text.lines().enumerate() {
            self.x.push(
                Element::new("field", ns::DATA)
                    .attr("type", "fixed")
                    .attr("var", &format!("line{}", i + 1))
                    .child(Element::new("value", ns::DATA).text(line)),
            );
        }
        self
    }

    /// A required field.
    pub fn required(mut self, var: &str, kind: &str, label: &str, values: &[&str]) -> Form {
        self.x
            .push(field(var, kind, label, values).child(Element::new("required", ns::DATA)));
        self
    }

    /// A list field with `(value, label)` options.
    pub fn list(
        mut self,
        var: &str,
        kind: &str,
        label: &str,
        values: &[&str],
        options: &[(String, String)],
    ) -> Form {
        let mut f = field(var, kind, label, values);
        for (value, label) in options {
            f.push(
                Element::new("option", ns::DATA)
                    .attr("label", label)
                    .child(Element::new("value", ns::DATA).text(value)),
            );
        }
        self.x.push(f);
        self
    }

    /// A table (`<reported/>` and `<item/>`s) of a result form.
    pub fn table(mut self, columns: &[(&str, &str)], rows: &[Vec<String>]) -> Form {
        let mut reported = Element::new("reported", ns::DATA);
        for (var, label) in columns {
            reported.push(
                Element::new("field", ns::DATA)
                    .attr("var", var)
                    .attr("label", label),
            );
        }
        self.x.push(reported);
        for row in rows {
            let mut item = Element::new("item", ns::DATA);
            for ((var, _), value) in columns.iter().zip(row) {
                item.push(
                    Element::new("field", ns::DATA)
                        .attr("var", var)
                        .child(Element::new("value", ns::DATA).text(value)),
                );
            }
            self.x.push(item);
        }
        self
    }

    pub fn build(self) -> Element {
        self.x
    }
}

fn field(var: &str, kind: &str, label: &str, values: &[&str]) -> Element {
    let mut f = Element::new("field", ns::DATA)
        .attr("var", var)
        .attr("type", kind);
    if !label.is_empty() {
        f.set_attr("label", label);
    }
    for value in values {
        // A text-multi value is one line per <value/>.
        if kind == "text-multi" {
            for line in value.lines() {
                f.push(Element::new("value", ns::DATA).text(line));
            }
        } else {
            f.push(Element::new("value", ns::DATA).text(value));
        }
    }
    f
}

/// The values of a submitted form, by field name.
pub fn values(x: &Element) -> HashMap<String, Vec<String>> {
    let mut out = HashMap::new();
    for f in x.elements().filter(|e| e.is("field", ns::DATA)) {
        let Some(var) = f.get_attr("var") else {
            continue;
        };
        let vals = f
            .elements()
            .filter(|e| e.is("value", ns::DATA))
            .map(Element::text_content)
            .collect();
        out.insert(var.to_owned(), vals);
    }
    out
}

/// The first value of a field, trimmed; empty when absent.
pub fn value<'a>(values: &'a HashMap<String, Vec<String>>, var: &str) -> &'a str {
    values
        .get(var)
        .and_then(|v| v.first())
        .map_or("", |s| s.trim())
}

/// A boolean field's value (`1` or `true`).
pub fn boolean(values: &HashMap<String, Vec<String>>, var: &str) -> bool {
    matches!(value(values, var), "1" | "true")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_reads_back() {
        let x = Form::new("form")
            .title("Pay")
            .required("amount", "text-single", "Amount", &["0.1"])
            .field("note", "text-multi", "", &["a\nb"])
            .list(
                "lang",
                "list-single",
                "Language",
                &["fr"],
                &[
                    ("en".into(), "English".into()),
                    ("fr".into(), "Français".into()),
                ],
            )
            .field("ok", "boolean", "OK", &["1"])
            .build();
        let v = values(&x);
        assert_eq!(value(&v, "amount"), "0.1");
        assert_eq!(v["note"], vec!["a", "b"]);
        assert_eq!(value(&v, "lang"), "fr");
        assert!(boolean(&v, "ok"));
        assert_eq!(value(&v, "missing"), "");
        assert!(x.to_xml().contains("<required/>"));
    }
}
