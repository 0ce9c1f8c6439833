//! The engine's one error enum.

use std::collections::BTreeMap;

/// Problems found in input, by field name.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.0.entry(field.into()).or_default().push(problem.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn fields(&self) -> &BTreeMap<String, Vec<String>> {
        &self.0
    }

    /// Records the error of `result` under `field` and gives back its value, if any.
    pub fn check<T>(&mut self, field: &str, result: Result<T, DomainError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(DomainError::Invalid(inner)) => {
                for (f, problems) in inner.0 {
                    let name = if f.is_empty() { field.to_string() } else { f };
                    for p in problems {
                        self.add(name.clone(), p);
                    }
                }
                None
            }
            Err(other) => {
                self.add(field, other.to_string());
                None
            }
        }
    }

    /// `Ok(())` when nothing was recorded, otherwise the validation error.
    pub fn into_result(self) -> Result<(), DomainError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Invalid(self))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Input failed validation; the map says which field and why.
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// The caller may not do this to an object it can see.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// A state machine refused a transition.
    #[error("transition from {from} to {to} is not allowed")]
    Transition { from: &'static str, to: &'static str },
    /// A rule refused the change because of the object's state (HTTP 409). `code` is one
    /// of [`crate::codes::ALL`].
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// An attachment refused by the file rules (type, size, duration, quota, content).
    #[error("{0}")]
    File(crate::attachment::FileRefusal),
}

impl DomainError {
    /// A validation error about one value whose field name the caller fills in.
    pub fn invalid(problem: impl Into<String>) -> Self {
        let mut f = FieldErrors::new();
        f.add("", problem);
        DomainError::Invalid(f)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        DomainError::Conflict { code, message: message.into() }
    }

    /// The stable snake_case code of this refusal (one of [`crate::codes::ALL`]).
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::Invalid(_) => crate::codes::VALIDATION_FAILED,
            DomainError::Forbidden(_) => crate::codes::FORBIDDEN,
            DomainError::Transition { .. } => crate::codes::INVALID_TRANSITION,
            DomainError::Conflict { code, .. } => code,
            DomainError::File(r) => r.code(),
        }
    }

    pub fn invalid_field(field: &str, problem: impl Into<String>) -> Self {
        let mut f = FieldErrors::new();
        f.add(field, problem);
        DomainError::Invalid(f)
    }
}
