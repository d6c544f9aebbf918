//! The caller's side: a tonic interceptor that sends `authorization: Bearer
//! <token>` with every call (for `fenliu demo`, `state`, `watch`, `loadtest` and
//! the tests).

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// Adds `authorization: Bearer <token>` to every call, when there is a token.
#[derive(Clone, Debug, Default)]
pub struct BearerToken(Option<MetadataValue<Ascii>>);

impl BearerToken {
    /// Sends `token` (`None`: sends nothing). A token that cannot be a header
    /// value (not visible ASCII) is refused here rather than at every call.
    pub fn new(
        token: Option<&str>,
    ) -> Result<BearerToken, tonic::metadata::errors::InvalidMetadataValue> {
        let value = token
            .map(|token| format!("Bearer {}", token.trim()).parse())
            .transpose()?;
        Ok(BearerToken(value))
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}
