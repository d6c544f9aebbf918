//! A strict well-formedness check of the HTML report as XML (which the report
//! is written to be): one root element, every element closed in order,
//! attributes quoted and unique, `&` only in XML's character references, no
//! stray `<`. It also returns each element's own text, decoded, so that a test
//! can read the tables' cells.

/// An element of the document, in the order of their start tags.
#[derive(Debug, Clone)]
pub struct Element {
    /// The tag name.
    pub name: String,
    /// Its own text (not its children's), references decoded, trimmed.
    pub text: String,
}

/// The document's elements, or where and why it is not well-formed.
pub fn parse(document: &str) -> Result<Vec<Element>, String> {
    let mut rest = document.trim_start_matches('\u{feff}');
    let fail = |rest: &str, why: &str| {
        let at = document.len() - rest.len();
        let context: String = rest.chars().take(60).collect();
        Err(format!("byte {at}: {why}: {context:?}"))
    };
    let mut elements: Vec<Element> = Vec::new();
    // Indices into `elements` of the elements open.
    let mut open: Vec<usize> = Vec::new();
    let mut roots = 0;
    if let Some(after) = rest.strip_prefix("<!DOCTYPE") {
        let Some(end) = after.find('>') else {
            return fail(rest, "unclosed DOCTYPE");
        };
        rest = &after[end + 1..];
    }
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("<!--") {
            let Some(end) = after.find("-->") else {
                return fail(rest, "unclosed comment");
            };
            rest = &after[end + 3..];
        } else if let Some(after) = rest.strip_prefix("</") {
            let Some(end) = after.find('>') else {
                return fail(rest, "unclosed end tag");
            };
            let name = after[..end].trim_end();
            match open.pop() {
                Some(index) if elements[index].name == name => {}
                Some(index) => {
                    let expected = elements[index].name.clone();
                    return fail(rest, &format!("</{name}> closes <{expected}>"));
                }
                None => return fail(rest, "end tag without a start tag"),
            }
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix('<') {
            let (name, self_closed, consumed) = match start_tag(after) {
                Ok(tag) => tag,
                Err(why) => return fail(rest, &why),
            };
            if open.is_empty() {
                roots += 1;
                if roots > 1 {
                    return fail(rest, "a second root element");
                }
            }
            elements.push(Element {
                name,
                text: String::new(),
            });
            if !self_closed {
                open.push(elements.len() - 1);
            }
            rest = &after[consumed..];
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let text = match decode(&rest[..end]) {
                Ok(text) => text,
                Err(why) => return fail(rest, &why),
            };
            match open.last() {
                Some(&index) => elements[index].text.push_str(&text),
                None if text.trim().is_empty() => {}
                None => return fail(rest, "text outside the root element"),
            }
            rest = &rest[end..];
        }
    }
    if let Some(&index) = open.last() {
        return Err(format!("<{}> is never closed", elements[index].name));
    }
    if roots != 1 {
        return Err("no root element".to_owned());
    }
    for element in &mut elements {
        element.text = element.text.trim().to_owned();
    }
    Ok(elements)
}

/// A start tag after its `<`: its name, whether it closes itself, and the
/// bytes it takes up to its `>` included.
fn start_tag(tag: &str) -> Result<(String, bool, usize), String> {
    let name_end = tag
        .find(|c: char| !(c.is_ascii_alphanumeric() || "-_:.".contains(c)))
        .unwrap_or(tag.len());
    let name = &tag[..name_end];
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("a `<` that starts no tag".to_owned());
    }
    let mut at = name_end;
    let mut seen: Vec<&str> = Vec::new();
    loop {
        let skipped = tag[at..].len() - tag[at..].trim_start().len();
        at += skipped;
        let rest = &tag[at..];
        if rest.starts_with("/>") {
            return Ok((name.to_owned(), true, at + 2));
        }
        if rest.starts_with('>') {
            return Ok((name.to_owned(), false, at + 1));
        }
        if skipped == 0 {
            return Err(format!("<{name}>: attributes need a space before them"));
        }
        let Some(equals) = rest.find('=') else {
            return Err(format!("<{name}>: an attribute without a value"));
        };
        let attribute = &rest[..equals];
        if attribute.is_empty() || attribute.contains(|c: char| c.is_whitespace() || c == '>') {
            return Err(format!("<{name}>: a malformed attribute {attribute:?}"));
        }
        if seen.contains(&attribute) {
            return Err(format!("<{name}>: attribute {attribute} twice"));
        }
        seen.push(attribute);
        let value = &rest[equals + 1..];
        let quote = value
            .chars()
            .next()
            .filter(|q| *q == '"' || *q == '\'')
            .ok_or_else(|| format!("<{name}>: {attribute}'s value is not quoted"))?;
        let Some(close) = value[1..].find(quote) else {
            return Err(format!("<{name}>: {attribute}'s value is not closed"));
        };
        let inner = &value[1..1 + close];
        if inner.contains('<') {
            return Err(format!("<{name}>: a `<` in {attribute}'s value"));
        }
        decode(inner)?;
        at += equals + 1 + close + 2;
    }
}

/// Text with its character references decoded; an `&` that starts none, or a
/// stray `<`, is an error.
fn decode(text: &str) -> Result<String, String> {
    if text.contains('<') {
        return Err("a stray `<` in text".to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let Some(semicolon) = after.find(';') else {
            return Err("an `&` that starts no reference".to_owned());
        };
        let reference = &after[..semicolon];
        let decoded = match reference {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let number = if let Some(hex) = reference.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(decimal) = reference.strip_prefix('#') {
                    decimal.parse().ok()
                } else {
                    None
                };
                number
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("&{reference}; is no XML reference"))?
            }
        };
        out.push(decoded);
        rest = &after[semicolon + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The checker itself refuses what it must.
#[test]
fn the_checker_refuses_what_is_not_well_formed() {
    let good = "<!DOCTYPE html>\n<html a=\"1\"><p>x &amp; &#39;y&#39;</p><br/></html>\n";
    let elements = parse(good).unwrap();
    assert_eq!(elements[1].name, "p");
    assert_eq!(elements[1].text, "x & 'y'");
    for bad in [
        "<html><p></html>",
        "<html></p></html>",
        "<html>a & b</html>",
        "<html>&nbsp;</html>",
        "<html>a < b</html>",
        "<html a=1></html>",
        "<html a=\"1\" a=\"2\"></html>",
        "<html><br></html>",
        "<html></html><html></html>",
        "<html>",
        "text<html></html>",
    ] {
        assert!(parse(bad).is_err(), "{bad} passed");
    }
}
