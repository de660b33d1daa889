//! The Hub's OAuth endpoints, as huggingface_hub 2.4.0 calls them: the device-code grant
//! (RFC 8628) and the refresh-token grant. Messages follow its wording.

use super::client::{HubClient, HubError, read_text, redact, shown_url, unreachable};
use serde::Deserialize;
use std::time::Duration;

pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Bounds on the numbers an endpoint sends, whatever it says (a hostile or broken one sent
/// u64::MAX, and `Instant + Duration` panicked): a device code lives minutes (RFC 8628), a poll
/// interval seconds, and no token is taken to live longer than ten years.
pub const MAX_DEVICE_CODE_SECS: u64 = 3600;
pub const MAX_POLL_INTERVAL_SECS: u64 = 60;
pub const MAX_TOKEN_LIFETIME_SECS: i64 = 10 * 365 * 86_400;

/// A device authorization, with huggingface_hub's defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceCode {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: u64,
    pub interval: u64,
}

#[derive(Deserialize)]
struct DeviceBody {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    interval: Option<u64>,
}

/// A token answer (device grant or refresh).
#[derive(Clone, Deserialize, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<i64>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse").field("expires_in", &self.expires_in).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// One poll's outcome.
#[derive(Debug)]
pub enum Poll {
    Pending,
    SlowDown,
    Done(TokenResponse),
    /// The flow is over: huggingface_hub's message.
    Failed(String),
    /// 5xx, non-JSON, network: keep polling.
    Transient(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RefreshError {
    /// The refresh token is revoked or expired: only a new login helps.
    #[error("{error} - {description}")]
    InvalidGrant { error: String, description: String },
    /// Worth retrying later.
    #[error("{0}")]
    Transient(String),
}

impl HubClient {
    /// `POST {endpoint}/oauth/device`.
    pub async fn request_device_code(
        &self,
        endpoint: &str,
        client_id: &str,
        offline: bool,
    ) -> Result<DeviceCode, String> {
        let url = format!("{endpoint}/oauth/device");
        let shown = shown_url(&url);
        let fail = |e: String| format!("Failed to request device code from {shown}: {e}");
        if offline {
            return Err(fail(HubError::Offline { url: shown.clone().into_owned() }.to_string()));
        }
        self.count_request();
        let response = self
            .http()
            .post(&url)
            .form(&[("client_id", client_id)])
            .send()
            .await
            .map_err(|e| fail(unreachable(&url, &e).to_string()))?;
        let status = response.status();
        let text = read_text(response).await.map_err(|e| fail(e.at(&url).to_string()))?;
        if !status.is_success() {
            return Err(fail(format!("HTTP {}", status.as_u16())));
        }
        let body: DeviceBody = serde_json::from_str(&text).map_err(|e| fail(format!("unexpected answer: {e}")))?;
        Ok(DeviceCode {
            verification_uri_complete: body.verification_uri_complete.unwrap_or_else(|| body.verification_uri.clone()),
            device_code: body.device_code,
            user_code: body.user_code,
            verification_uri: body.verification_uri,
            expires_in: body.expires_in.unwrap_or(900).min(MAX_DEVICE_CODE_SECS),
            interval: body.interval.unwrap_or(5).min(MAX_POLL_INTERVAL_SECS),
        })
    }

    /// One `POST {endpoint}/oauth/token` poll of the device grant.
    pub async fn poll_device_token(&self, endpoint: &str, client_id: &str, device_code: &str) -> Poll {
        let form = [("grant_type", DEVICE_GRANT), ("device_code", device_code), ("client_id", client_id)];
        match self.token_request(endpoint, &form).await {
            Ok(token) => Poll::Done(token),
            Err(TokenError::OAuth { error, description }) => match error.as_str() {
                "authorization_pending" => Poll::Pending,
                "slow_down" => Poll::SlowDown,
                "expired_token" => Poll::Failed("Device code expired. Please try again.".into()),
                "access_denied" => Poll::Failed("Authorization was denied. Please try again.".into()),
                _ => Poll::Failed(format!("OAuth error: {error} - {description}")),
            },
            Err(TokenError::Transient(e)) => Poll::Transient(e),
        }
    }

    /// `grant_type=refresh_token`.
    pub async fn refresh_token(
        &self,
        endpoint: &str,
        client_id: &str,
        refresh_token: &str,
    ) -> Result<TokenResponse, RefreshError> {
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh_token), ("client_id", client_id)];
        match self.token_request(endpoint, &form).await {
            Ok(t) => Ok(t),
            Err(TokenError::OAuth { error, description }) if error == "invalid_grant" => {
                Err(RefreshError::InvalidGrant { error, description })
            }
            Err(TokenError::OAuth { error, description }) => {
                Err(RefreshError::Transient(format!("{error} - {description}")))
            }
            Err(TokenError::Transient(e)) => Err(RefreshError::Transient(e)),
        }
    }

    async fn token_request(&self, endpoint: &str, form: &[(&str, &str)]) -> Result<TokenResponse, TokenError> {
        let url = format!("{endpoint}/oauth/token");
        self.count_request();
        let response = self
            .http()
            .post(&url)
            .form(form)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| TokenError::Transient(unreachable(&url, &e).to_string()))?;
        let status = response.status();
        let text = read_text(response).await.map_err(|e| TokenError::Transient(e.at(&url).to_string()))?;
        if status.is_server_error() {
            return Err(TokenError::Transient(format!("{} answered HTTP {}", shown_url(&url), status.as_u16())));
        }
        if let Ok(mut token) = serde_json::from_str::<TokenResponse>(&text) {
            token.expires_in = token.expires_in.map(|s| s.clamp(0, MAX_TOKEN_LIFETIME_SECS));
            return Ok(token);
        }
        // The secrets sent (a refresh token, a device code) are never repeated in an error.
        let sent: Vec<&str> =
            form.iter().filter(|(k, _)| matches!(*k, "refresh_token" | "device_code")).map(|(_, v)| *v).collect();
        match serde_json::from_str::<OAuthErrorBody>(&text) {
            Ok(e) => Err(TokenError::OAuth {
                error: redact(&e.error, &sent),
                description: redact(&e.error_description.unwrap_or_default(), &sent),
            }),
            Err(_) => Err(TokenError::Transient(format!(
                "{} answered HTTP {} without a token",
                shown_url(&url),
                status.as_u16()
            ))),
        }
    }
}

enum TokenError {
    OAuth { error: String, description: String },
    Transient(String),
}
