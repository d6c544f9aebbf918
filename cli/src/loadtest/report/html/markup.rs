//! The HTML report's markup pieces: escaping (every string that goes into the
//! page goes through [`escape`]), tables, and how figures are written, the
//! same in the tables as in the plots' labels.

use std::fmt::Write as _;

/// `text` safe as element content and as a quoted attribute value: `&`, `<`,
/// `>`, `"` and `'` as character references. Control characters other than
/// tab and newline, which XML refuses even as references, become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Milliseconds as every latency of the report is written: 3 decimals (a
/// microsecond).
pub fn ms(value: f64) -> String {
    format!("{value:.3}")
}

/// A rate per second, to a tenth.
pub fn rate(value: f64) -> String {
    format!("{value:.1}")
}

/// A table with a caption and a header row; every cell escaped. Cells that
/// hold numbers are right-aligned (the `num` class) so that columns compare.
pub fn table(caption: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<table>\n<caption>{}</caption>\n<thead><tr>",
        escape(caption)
    );
    for header in headers {
        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(header));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    if rows.is_empty() {
        let _ = writeln!(
            out,
            "<tr><td colspan=\"{}\">(none)</td></tr>",
            headers.len().max(1)
        );
    }
    for row in rows {
        out.push_str("<tr>");
        for (index, cell) in row.iter().enumerate() {
            let numeric = index > 0 && looks_numeric(cell);
            let class = if numeric { " class=\"num\"" } else { "" };
            let tag = if index == 0 { "th scope=\"row\"" } else { "td" };
            let end = if index == 0 { "th" } else { "td" };
            let _ = write!(out, "<{tag}{class}>{}</{end}>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

/// A plot under its heading, its caption, then the table of its figures
/// (scrolling when long).
pub fn figure(out: &mut String, heading: &str, svg: &str, caption: &str, table: &str) {
    let _ = write!(
        out,
        "<h3>{}</h3>\n<figure>\n{svg}<figcaption>{}</figcaption>\n</figure>\n\
         <div class=\"scroll\">\n{table}</div>\n",
        escape(heading),
        escape(caption)
    );
}

fn looks_numeric(cell: &str) -> bool {
    let trimmed = cell.trim_end_matches(['%', '×', ' ']);
    !trimmed.is_empty() && trimmed.parse::<f64>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_makes_markup_characters_text() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape("&amp;"), "&amp;amp;");
        assert_eq!(escape("分流 é\tl1\nl2"), "分流 é\tl1\nl2");
        assert_eq!(escape("bell\u{7}nul\u{0}"), "bell\u{fffd}nul\u{fffd}");
    }

    #[test]
    fn table_cells_are_escaped_and_numbers_aligned() {
        let html = table(
            "Errors <by code>",
            &["code", "count"],
            &[vec!["<b>".to_owned(), "12".to_owned()]],
        );
        assert!(html.contains("<caption>Errors &lt;by code&gt;</caption>"));
        assert!(html.contains("<th scope=\"row\">&lt;b&gt;</th><td class=\"num\">12</td>"));
        assert!(!html.contains("<b>"));
        let empty = table("Nothing", &["a", "b"], &[]);
        assert!(empty.contains("<td colspan=\"2\">(none)</td>"));
    }

    #[test]
    fn figures_are_written_to_a_microsecond_and_a_tenth() {
        assert_eq!(ms(1.25), "1.250");
        assert_eq!(ms(0.0), "0.000");
        assert_eq!(rate(1234.56), "1234.6");
    }
}
