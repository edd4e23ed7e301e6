//! CSV loading: the numeric [`Table`] parser and the [`CsvSpec`] schema that picks
//! a [`Dataset`]'s input, target and hold-out columns from it.
//!
//! Errors name the source and the 1-based line (the header is line 1; blank and
//! comment lines count).

use super::{Dataset, Split};
use crate::error::{NnError, Result};
use std::path::Path;

/// A numeric CSV table: a header row of column names and row-major f64 data.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The column names from the header row.
    pub columns: Vec<String>,
    /// The values, row-major `[rows, columns.len()]`.
    pub data: Vec<f64>,
    /// The 1-based file line of each data row (the header is line 1).
    pub lines: Vec<usize>,
    /// Where the table was read from (a path, or `<string>`).
    pub source_name: String,
}

impl Table {
    /// Parses CSV text: a header row, then rows of numbers separated by commas (blank
    /// lines and lines starting with `#` are skipped; fields may be quoted and padded).
    /// Errors name the 1-based line.
    pub fn parse(text: &str, source_name: &str) -> Result<Self> {
        let csv_err = |line: usize, reason: String| NnError::Csv { source_name: source_name.to_string(), line, reason };
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
        let mut header = None;
        for (no, l) in lines.by_ref() {
            if l.trim().is_empty() || l.trim_start().starts_with('#') {
                continue;
            }
            header = Some((no, l));
            break;
        }
        let Some((hline, header)) = header else {
            return Err(csv_err(1, "empty file: expected a header row".into()));
        };
        let unquote = |f: &str| f.trim().trim_matches('"').trim().to_string();
        let columns: Vec<String> = header.split(',').map(unquote).collect();
        if let Some(i) = columns.iter().position(|c| c.is_empty()) {
            return Err(csv_err(hline, format!("header column #{} has an empty name", i + 1)));
        }
        let ncol = columns.len();
        let mut data = Vec::new();
        let mut rows = Vec::new();
        for (no, l) in lines {
            if l.trim().is_empty() || l.trim_start().starts_with('#') {
                continue;
            }
            let mut count = 0;
            for (j, field) in l.split(',').enumerate() {
                if j >= ncol {
                    return Err(csv_err(
                        no,
                        format!("{} fields, but the header has {ncol} columns", l.split(',').count()),
                    ));
                }
                let f = unquote(field);
                let v: f64 = f.parse().map_err(|_| {
                    csv_err(no, format!("column {:?} (#{}): cannot parse {f:?} as a number", columns[j], j + 1))
                })?;
                data.push(v);
                count += 1;
            }
            if count != ncol {
                return Err(csv_err(no, format!("{count} fields, but the header has {ncol} columns")));
            }
            rows.push(no);
        }
        Ok(Self { columns, data, lines: rows, source_name: source_name.to_string() })
    }

    /// Reads and parses a CSV file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| NnError::io(path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The number of data rows.
    pub fn rows(&self) -> usize {
        self.lines.len()
    }

    /// The index of column `name`.
    pub fn column_index(&self, name: &str) -> Result<usize> {
        self.columns.iter().position(|c| c == name).ok_or_else(|| NnError::MissingColumn {
            source_name: self.source_name.clone(),
            column: name.to_string(),
            header: self.columns.join(","),
        })
    }

    /// The values of column `name`.
    pub fn column(&self, name: &str) -> Result<Vec<f64>> {
        let j = self.column_index(name)?;
        Ok(self.data.chunks_exact(self.columns.len()).map(|r| r[j]).collect())
    }

    /// The columns `names`, row-major `[rows, names.len()]`.
    pub fn select(&self, names: &[&str]) -> Result<Vec<f64>> {
        let idx = names.iter().map(|n| self.column_index(n)).collect::<Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(self.rows() * idx.len());
        for r in self.data.chunks_exact(self.columns.len()) {
            out.extend(idx.iter().map(|&j| r[j]));
        }
        Ok(out)
    }
}

/// What kind of target a CSV column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// Real-valued regression targets.
    Regression,
    /// Integer class labels 0, 1, …
    Classes,
}

/// Which CSV columns make a [`Dataset`].
#[derive(Debug, Clone, PartialEq)]
pub struct CsvSpec {
    /// Input columns; empty means every column except the target and the flag.
    pub inputs: Vec<String>,
    /// The target column.
    pub target: String,
    /// Regression values or class labels.
    pub kind: TargetKind,
    /// Optional flag column: rows where it is nonzero are held out of training.
    pub holdout_flag: Option<String>,
}

impl CsvSpec {
    /// Regression on column `target` with all other columns as inputs.
    pub fn regression(target: &str) -> Self {
        Self { inputs: Vec::new(), target: target.into(), kind: TargetKind::Regression, holdout_flag: None }
    }

    /// Classification on label column `target` with all other columns as inputs.
    pub fn classification(target: &str) -> Self {
        Self { inputs: Vec::new(), target: target.into(), kind: TargetKind::Classes, holdout_flag: None }
    }

    /// Uses only the given input columns.
    pub fn with_inputs(mut self, inputs: &[&str]) -> Self {
        self.inputs = inputs.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Holds out the rows where column `flag` is nonzero.
    pub fn with_holdout(mut self, flag: &str) -> Self {
        self.holdout_flag = Some(flag.into());
        self
    }

    /// The Snelson CSV of the DiMS/RLA experiments (`x,y,in_gap_1p5_3`): regress `y`
    /// on `x`, holding out the gap rows.
    pub fn snelson() -> Self {
        Self::regression("y").with_inputs(&["x"]).with_holdout("in_gap_1p5_3")
    }

    /// Builds the split from a parsed table. Class labels must be non-negative
    /// integers; errors name the offending line.
    pub fn apply(&self, table: &Table) -> Result<Split> {
        let ncol = table.columns.len();
        let tj = table.column_index(&self.target)?;
        let fj = self.holdout_flag.as_deref().map(|f| table.column_index(f)).transpose()?;
        let input_idx: Vec<usize> = if self.inputs.is_empty() {
            (0..ncol).filter(|&j| j != tj && Some(j) != fj).collect()
        } else {
            self.inputs.iter().map(|n| table.column_index(n)).collect::<Result<_>>()?
        };
        if input_idx.is_empty() {
            return Err(NnError::shape("input columns", ">= 1", 0));
        }
        let rows = table.data.chunks_exact(ncol);
        let inputs: Vec<f64> = rows.clone().flat_map(|r| input_idx.iter().map(move |&j| r[j])).collect();
        let d = input_idx.len();
        let csv_err =
            |line: usize, reason: String| NnError::Csv { source_name: table.source_name.clone(), line, reason };
        for (r, &line) in rows.clone().zip(&table.lines) {
            if let Some(j) = input_idx.iter().find(|&&j| !r[j].is_finite()) {
                return Err(csv_err(line, format!("column {:?} is not finite", table.columns[*j])));
            }
            if !r[tj].is_finite() {
                return Err(csv_err(line, format!("target column {:?} is not finite", self.target)));
            }
        }
        let all = match self.kind {
            TargetKind::Regression => Dataset::regression(inputs, d, rows.clone().map(|r| r[tj]).collect(), 1)?,
            TargetKind::Classes => {
                let mut labels = Vec::with_capacity(table.rows());
                for (r, &line) in rows.clone().zip(&table.lines) {
                    let v = r[tj];
                    if v < 0.0 || v.fract() != 0.0 || v > u32::MAX as f64 {
                        return Err(csv_err(
                            line,
                            format!("class label {v} in column {:?} is not a non-negative integer", self.target),
                        ));
                    }
                    labels.push(v as usize);
                }
                Dataset::classification(inputs, d, labels, None)?
            }
        };
        let mask: Vec<bool> = match fj {
            Some(j) => rows.map(|r| r[j] != 0.0).collect(),
            None => vec![false; table.rows()],
        };
        all.split(&mask)
    }

    /// Parses CSV text and builds the split ([`Table::parse`] + [`CsvSpec::apply`]).
    pub fn parse(&self, text: &str, source_name: &str) -> Result<Split> {
        self.apply(&Table::parse(text, source_name)?)
    }

    /// Reads a CSV file and builds the split.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<Split> {
        self.apply(&Table::read(path)?)
    }
}
