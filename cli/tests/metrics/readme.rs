//! The README's metric table (section "Observability"), read as documentation
//! a user reads it: one row per family, with its type and the roles that
//! serve it.

/// A documented family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Documented {
    pub name: String,
    /// `counter`, `gauge` or `histogram`.
    pub kind: String,
    /// `worker`, `dispatcher` or `both`.
    pub from: String,
}

impl Documented {
    /// Whether a node of `role` serves the family.
    pub fn served_by(&self, role: &str) -> bool {
        self.from == "both" || self.from == role
    }
}

/// Every row of the metric table of the README's Observability section.
pub fn documented_families() -> Vec<Documented> {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split("\n## Observability")
        .nth(1)
        .expect("README has an Observability section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let rows: Vec<Documented> = section
        .lines()
        .filter(|line| line.starts_with("| `fenliu_"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // | name | type | labels | from | meaning | question |
            assert!(cells.len() >= 7, "a metric row has six cells: {line}");
            Documented {
                name: cells[1].trim_matches('`').to_owned(),
                kind: cells[2].to_owned(),
                from: cells[4].to_owned(),
            }
        })
        .collect();
    assert!(
        rows.len() >= 20,
        "the metric table was read whole: {rows:?}"
    );
    for row in &rows {
        assert!(
            ["counter", "gauge", "histogram"].contains(&row.kind.as_str()),
            "{row:?}: type is counter, gauge or histogram"
        );
        assert!(
            ["worker", "dispatcher", "both"].contains(&row.from.as_str()),
            "{row:?}: from is worker, dispatcher or both"
        );
    }
    rows
}
