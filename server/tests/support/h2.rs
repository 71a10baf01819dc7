//! An SDK HTTP client that speaks HTTP/2 only over any hyper connector (cleartext h2 with
//! prior knowledge over a plain `HttpConnector`, or ALPN h2 over hyper-rustls), recording
//! that responses really came over HTTP/2. Shared by `server/tests/tls.rs` and
//! `cli/tests/serve_sdk.rs` (included there by path).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_util::client::legacy::connect::Connect;

/// The SDK's HTTP client over `C`, HTTP/2 only.
#[derive(Debug, Clone)]
pub struct H2<C> {
    client: hyper_util::client::legacy::Client<C, SdkBody>,
    /// Set once a response came over HTTP/2.
    pub saw_h2: Arc<AtomicBool>,
}

impl<C: Connect + Clone + Send + Sync + 'static> H2<C> {
    /// HTTP/2 only over `connector`.
    pub fn new(connector: C) -> H2<C> {
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .http2_only(true)
            .build(connector);
        H2 { client, saw_h2: Arc::new(AtomicBool::new(false)) }
    }
}

impl<C: Connect + Clone + Send + Sync + std::fmt::Debug + 'static> HttpConnector for H2<C> {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let this = self.clone();
        HttpConnectorFuture::new(async move {
            let req = request.try_into_http1x().map_err(|e| ConnectorError::other(e.into(), None))?;
            let resp = this.client.request(req).await.map_err(|e| ConnectorError::io(e.into()))?;
            if resp.version() == http::Version::HTTP_2 {
                this.saw_h2.store(true, Ordering::SeqCst);
            }
            HttpResponse::try_from(resp.map(SdkBody::from_body_1_x)).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

impl<C: Connect + Clone + Send + Sync + std::fmt::Debug + 'static> HttpClient for H2<C> {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}
