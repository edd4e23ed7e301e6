//! Typed errors of geodyn-nn.

/// Result alias of geodyn-nn.
pub type Result<T, E = NnError> = std::result::Result<T, E>;

/// Everything that can go wrong in geodyn-nn: malformed model specs, data files and
/// weight files, mismatched shapes, and failures reported by an objective.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NnError {
    /// A model spec string such as `"1-16-16-1:gelu"` could not be parsed.
    #[error("invalid model spec {spec:?}: {reason}")]
    Spec {
        /// The spec as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An activation name was not recognised.
    #[error("unknown activation {name:?} (expected one of gelu, silu, tanh, relu, identity)")]
    UnknownActivation {
        /// The name as given.
        name: String,
    },
    /// A slice or array had the wrong length or shape.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    Shape {
        /// Which argument, buffer or array.
        what: String,
        /// The shape or length that was required.
        expected: String,
        /// The shape or length that was given.
        got: String,
    },
    /// A setting was out of its admissible range.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        /// The setting's name.
        name: &'static str,
        /// Its value.
        value: f64,
        /// What the admissible range is.
        reason: &'static str,
    },
    /// A CSV file could not be parsed; `line` is 1-based and counts the header.
    #[error("{source_name}: line {line}: {reason}")]
    Csv {
        /// The file name, or `<string>` for in-memory text.
        source_name: String,
        /// The 1-based line number (the header is line 1).
        line: usize,
        /// What is wrong on that line.
        reason: String,
    },
    /// A CSV header did not contain a requested column.
    #[error("{source_name}: no column named {column:?} (header: {header})")]
    MissingColumn {
        /// The file name, or `<string>` for in-memory text.
        source_name: String,
        /// The column that was asked for.
        column: String,
        /// The header row as read.
        header: String,
    },
    /// A `.npy` file was malformed or of an unsupported kind.
    #[error(".npy: {0}")]
    Npy(String),
    /// A safetensors file was malformed or its tensors do not match the model.
    #[error("safetensors: {0}")]
    SafeTensors(String),
    /// A tensor in a weight file has the wrong shape for the model spec.
    #[error("tensor {name:?}: expected shape {expected:?}, got {got:?}")]
    TensorShape {
        /// The tensor's name, e.g. `2.weight`.
        name: String,
        /// The shape the model spec requires.
        expected: Vec<usize>,
        /// The shape found in the file.
        got: Vec<usize>,
    },
    /// A tensor the model spec requires is missing from a weight file.
    #[error("tensor {name:?} (shape {expected:?}) is missing; the file has {found:?}")]
    MissingTensor {
        /// The missing tensor's name.
        name: String,
        /// The shape it should have.
        expected: Vec<usize>,
        /// The names that are present.
        found: Vec<String>,
    },
    /// A weight file holds a tensor the model spec has no place for.
    #[error("unexpected tensor {name:?} in weight file (the model expects {expected:?})")]
    UnexpectedTensor {
        /// The unexpected tensor's name.
        name: String,
        /// The names the model expects.
        expected: Vec<String>,
    },
    /// A tensor has a dtype that cannot be read as f64.
    #[error("tensor {name:?}: unsupported dtype {dtype} (expected F32 or F64)")]
    Dtype {
        /// The tensor's name.
        name: String,
        /// The dtype found.
        dtype: String,
    },
    /// A value was NaN or infinite.
    #[error("non-finite value in {what}")]
    NonFinite {
        /// Which argument or quantity.
        what: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file's path.
        path: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An objective (e.g. during training) reported an error.
    #[error(transparent)]
    Objective(#[from] geodyn_core::Error),
}

impl NnError {
    /// A [`NnError::Shape`] from anything printable.
    pub fn shape(what: impl Into<String>, expected: impl ToString, got: impl ToString) -> Self {
        NnError::Shape { what: what.into(), expected: expected.to_string(), got: got.to_string() }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        NnError::Io { path: path.display().to_string(), source }
    }
}

/// Errors of geodyn-nn cross the [`Objective`](geodyn_core::Objective) seam as
/// [`geodyn_core::Error`]: shape errors become `DimensionMismatch`-like messages in
/// [`geodyn_core::Error::Backend`], objective errors pass through unchanged.
impl From<NnError> for geodyn_core::Error {
    fn from(e: NnError) -> Self {
        match e {
            NnError::Objective(inner) => inner,
            other => geodyn_core::Error::Backend(other.to_string()),
        }
    }
}

/// Returns [`NnError::Shape`] unless `got == expected`.
#[inline]
pub(crate) fn check_len(what: &str, expected: usize, got: usize) -> Result<()> {
    if expected == got { Ok(()) } else { Err(NnError::shape(what, expected, got)) }
}
