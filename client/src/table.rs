//! huggingface_hub's `tabulate`: columns as wide as their widest cell in code points, cells
//! left-aligned and padded (the last column too), one space between columns, a dash rule.

pub fn tabulate(headers: &[&str], rows: &[Vec<String>]) -> String {
    let columns = headers.len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |cell| cell.chars().count()))
                .chain(std::iter::once(headers[c].chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| -> String {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out = vec![
        line(headers.iter().map(|h| (*h).to_owned()).collect()),
        line(widths.iter().map(|w| "-".repeat(*w)).collect()),
    ];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| (*c).to_owned()).collect()
    }

    // Spec §4.5's observed bytes (print adds the final newline).
    #[test]
    fn one_row() {
        let t = tabulate(&[" ", "name", "token"], &[row(&["*", "work-token", "hf_****AAAA"])]);
        assert_eq!(format!("{t}\n"), "  name       token      \n- ---------- -----------\n* work-token hf_****AAAA\n");
    }

    #[test]
    fn expires_column_and_unicode_widths() {
        let t = tabulate(
            &[" ", "name", "token", "expires"],
            &[row(&["", "oauth-alice", "hf_****5678", "2026-12-22"]), row(&["*", "work-token", "hf_****AAAA", ""])],
        );
        assert_eq!(
            format!("{t}\n"),
            "  name        token       expires   \n- ----------- ----------- ----------\n  oauth-alice hf_****5678 2026-12-22\n* work-token  hf_****AAAA           \n"
        );
        let u = tabulate(
            &[" ", "name", "token"],
            &[row(&["", "🤗 laptop", "hf_****e_99"]), row(&["*", "x", "ab****ab"]), row(&["", "y", "<not set>"])],
        );
        assert_eq!(
            format!("{u}\n"),
            "  name     token      \n- -------- -----------\n  🤗 laptop hf_****e_99\n* x        ab****ab   \n  y        <not set>  \n"
        );
    }
}
