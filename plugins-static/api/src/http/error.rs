//! Request errors and the one place that maps them to a status code.

use super::response::Status;

/// Everything that ends a request with an error status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// Malformed request line, header, framing or target.
    BadRequest,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    /// The request head did not arrive within the header deadline.
    Timeout,
    PreconditionFailed,
    PayloadTooLarge,
    UriTooLong,
    RangeNotSatisfiable,
    ExpectationFailed,
    HeadTooLarge,
    Internal,
    NotImplemented,
    /// An upstream (CGI, FastCGI) answered garbage or died.
    BadGateway,
    /// No capacity (slots, CGI processes, backend connections).
    ServiceUnavailable,
    /// An upstream did not answer in time.
    GatewayTimeout,
    VersionNotSupported,
}

impl HttpError {
    /// The single mapping from error to HTTP status.
    pub fn status(self) -> Status {
        match self {
            HttpError::BadRequest => Status::BadRequest,
            HttpError::Forbidden => Status::Forbidden,
            HttpError::NotFound => Status::NotFound,
            HttpError::MethodNotAllowed => Status::MethodNotAllowed,
            HttpError::Timeout => Status::RequestTimeout,
            HttpError::PreconditionFailed => Status::PreconditionFailed,
            HttpError::PayloadTooLarge => Status::PayloadTooLarge,
            HttpError::UriTooLong => Status::UriTooLong,
            HttpError::RangeNotSatisfiable => Status::RangeNotSatisfiable,
            HttpError::ExpectationFailed => Status::ExpectationFailed,
            HttpError::HeadTooLarge => Status::HeadersTooLarge,
            HttpError::Internal => Status::InternalServerError,
            HttpError::NotImplemented => Status::NotImplemented,
            HttpError::BadGateway => Status::BadGateway,
            HttpError::ServiceUnavailable => Status::ServiceUnavailable,
            HttpError::GatewayTimeout => Status::GatewayTimeout,
            HttpError::VersionNotSupported => Status::VersionNotSupported,
        }
    }

    /// Whether the connection must be closed after the error response:
    /// whenever the framing of what follows is in doubt.
    pub fn closes(self) -> bool {
        !matches!(
            self,
            HttpError::Forbidden
                | HttpError::NotFound
                | HttpError::MethodNotAllowed
                | HttpError::PreconditionFailed
                | HttpError::RangeNotSatisfiable
        )
    }
}
