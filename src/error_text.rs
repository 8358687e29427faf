//! Error text for users: an error with its chain of causes (`…: connection refused`), which is
//! what says what actually went wrong. One flattener for every component.

/// `error` and each of its causes, joined by `": "`.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    #[test]
    fn causes_follow_the_error() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot connect")]
        struct Outer(#[source] std::io::Error);
        let error = Outer(std::io::Error::other("connection refused"));
        assert_eq!(
            super::error_chain(&error),
            "cannot connect: connection refused"
        );
    }
}
