//! The XML element tree every stanza is made of, and its serializer.
//!
//! Names are stored resolved: each element carries its namespace URI, not a
//! prefix, so handlers compare `(name, ns)` pairs and never see how the peer
//! spelled its prefixes. The writer emits an `xmlns` wherever an element's
//! namespace differs from its parent's, and escapes every text and
//! attribute value; characters that XML 1.0 cannot carry at all are
//! replaced with U+FFFD so that no input can make us write a broken stream.

use std::sync::Arc;

/// Where XML is written: a `String`, or the bytes queued for the socket
/// (written in place, without a string in between).
pub trait XmlOut {
    fn push_str(&mut self, s: &str);

    fn push(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.push_str(c.encode_utf8(&mut buf));
    }
}

impl XmlOut for String {
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s);
    }

    fn push(&mut self, c: char) {
        String::push(self, c);
    }
}

impl XmlOut for Vec<u8> {
    fn push_str(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
}

/// A child of an element: another element or a run of character data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
    /// An element built and serialized once, shared by every stanza that
    /// carries it (the gateway's disco#info): cloning it is counting a
    /// reference, writing it is copying its bytes.
    Shared(Arc<Shared>),
}

impl From<Element> for Node {
    fn from(element: Element) -> Node {
        Node::Element(element)
    }
}

impl From<&Arc<Shared>> for Node {
    fn from(shared: &Arc<Shared>) -> Node {
        Node::Shared(Arc::clone(shared))
    }
}

/// An element with its serialization under a given parent namespace.
#[derive(Debug, PartialEq, Eq)]
pub struct Shared {
    element: Element,
    parent_ns: String,
    xml: String,
}

impl Shared {
    /// `element`, serialized once for a parent in `parent_ns`.
    pub fn new(element: Element, parent_ns: &str) -> Arc<Shared> {
        let mut xml = String::new();
        element.write_to(&mut xml, parent_ns);
        Arc::new(Shared {
            element,
            parent_ns: parent_ns.to_owned(),
            xml,
        })
    }

    pub fn element(&self) -> &Element {
        &self.element
    }
}

/// An XML element with its namespace resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub ns: String,
    /// Attributes in document order. Names are unprefixed, except `xml:lang`
    /// and other `xml:` attributes, which keep their reserved prefix.
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

impl Element {
    pub fn new(name: &str, ns: &str) -> Element {
        Element {
            name: name.to_owned(),
            ns: ns.to_owned(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Builder form of [`Element::set_attr`].
    pub fn attr(mut self, name: &str, value: &str) -> Element {
        self.set_attr(name, value);
        self
    }

    /// Builder form of [`Element::push`].
    pub fn child(mut self, child: Element) -> Element {
        self.push(child);
        self
    }

    /// Builder form of [`Element::push_text`].
    pub fn text(mut self, text: &str) -> Element {
        self.push_text(text);
        self
    }

    /// A child element `<name>text</name>` in the parent's namespace.
    pub fn text_child(self, name: &str, text: &str) -> Element {
        let ns = self.ns.clone();
        self.child(Element::new(name, &ns).text(text))
    }

    pub fn set_attr(&mut self, name: &str, value: &str) {
        match self.attrs.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.attrs.push((name.to_owned(), value.to_owned())),
        }
    }

    pub fn remove_attr(&mut self, name: &str) {
        self.attrs.retain(|(n, _)| n != name);
    }

    pub fn get_attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn push(&mut self, child: Element) {
        self.children.push(Node::Element(child));
    }

    /// Adds a shared child (see [`Node::Shared`]).
    pub fn push_shared(&mut self, child: &Arc<Shared>) {
        self.children.push(Node::Shared(Arc::clone(child)));
    }

    /// Sets an attribute to a value already owned (no copy).
    pub fn set_attr_string(&mut self, name: &str, value: String) {
        match self.attrs.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((name.to_owned(), value)),
        }
    }

    pub fn push_text(&mut self, text: &str) {
        if let Some(Node::Text(last)) = self.children.last_mut() {
            last.push_str(text);
        } else if !text.is_empty() {
            self.children.push(Node::Text(text.to_owned()));
        }
    }

    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.name == name && self.ns == ns
    }

    /// The child elements, skipping character data.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Shared(shared) => Some(&shared.element),
            Node::Text(_) => None,
        })
    }

    pub fn get_child(&self, name: &str, ns: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(name, ns))
    }

    /// The concatenated character data directly inside this element.
    pub fn text_content(&self) -> String {
        let mut out = String::new();
        for node in &self.children {
            if let Node::Text(t) = node {
                out.push_str(t);
            }
        }
        out
    }

    /// Serializes the element as a stanza of a stream whose default
    /// namespace is `parent_ns` (`jabber:component:accept` for stanzas).
    pub fn write_to(&self, out: &mut impl XmlOut, parent_ns: &str) {
        out.push('<');
        out.push_str(&self.name);
        if self.ns != parent_ns {
            out.push_str(" xmlns='");
            escape_into(out, &self.ns, true);
            out.push('\'');
        }
        for (name, value) in &self.attrs {
            out.push(' ');
            out.push_str(name);
            out.push_str("='");
            escape_into(out, value, true);
            out.push('\'');
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for node in &self.children {
            match node {
                Node::Element(e) => e.write_to(out, &self.ns),
                Node::Shared(shared) if shared.parent_ns == self.ns => out.push_str(&shared.xml),
                Node::Shared(shared) => shared.element.write_to(out, &self.ns),
                Node::Text(t) => escape_into(out, t, false),
            }
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }

    /// The element as a standalone XML string (with its `xmlns`).
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out, "");
        out
    }
}

/// Characters XML 1.0 allows in a document (production `Char`).
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Escapes `text` for character data or, with `attr`, for a single-quoted
/// attribute value. Whitespace other than the space is written as a
/// character reference in attributes so that attribute-value normalization
/// on the other side gives back exactly what we meant.
pub fn escape_into(out: &mut impl XmlOut, text: &str, attr: bool) {
    // Runs of characters that need nothing are copied whole.
    let mut clean = 0;
    for (i, c) in text.char_indices() {
        let replacement = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '\'' if attr => "&apos;",
            '"' if attr => "&quot;",
            '\r' => "&#xD;",
            '\n' if attr => "&#xA;",
            '\t' if attr => "&#x9;",
            c if is_xml_char(c) => continue,
            _ => "\u{FFFD}",
        };
        out.push_str(&text[clean..i]);
        out.push_str(replacement);
        clean = i + c.len_utf8();
    }
    out.push_str(&text[clean..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_namespaces_only_where_they_change() {
        let el = Element::new("iq", "jabber:component:accept")
            .attr("type", "result")
            .child(Element::new("query", "jabber:iq:version").text_child("name", "bitcoIM"));
        let mut out = String::new();
        el.write_to(&mut out, "jabber:component:accept");
        assert_eq!(
            out,
            "<iq type='result'><query xmlns='jabber:iq:version'><name>bitcoIM</name></query></iq>"
        );
    }

    #[test]
    fn escapes_text_and_attributes() {
        let el = Element::new("body", "jabber:client")
            .attr("a", "'\"<&>\n\t")
            .text("1 < 2 & 3 > 2\r\n");
        assert_eq!(
            el.to_xml(),
            "<body xmlns='jabber:client' a='&apos;&quot;&lt;&amp;&gt;&#xA;&#x9;'>\
             1 &lt; 2 &amp; 3 &gt; 2&#xD;\n</body>"
        );
    }

    #[test]
    fn replaces_characters_xml_cannot_carry() {
        let el = Element::new("b", "x").text("a\u{0}b\u{1B}c\u{FFFE}");
        assert_eq!(el.to_xml(), "<b xmlns='x'>a\u{FFFD}b\u{FFFD}c\u{FFFD}</b>");
    }

    #[test]
    fn text_runs_are_merged_and_read_back() {
        let mut el = Element::new("b", "x");
        el.push_text("ab");
        el.push_text("");
        el.push_text("cd");
        assert_eq!(el.children.len(), 1);
        assert_eq!(el.text_content(), "abcd");
    }

    #[test]
    fn set_attr_replaces() {
        let mut el = Element::new("iq", "x").attr("to", "a");
        el.set_attr("to", "b");
        assert_eq!(el.get_attr("to"), Some("b"));
        assert_eq!(el.attrs.len(), 1);
        el.remove_attr("to");
        assert_eq!(el.get_attr("to"), None);
    }
}
