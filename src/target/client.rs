//! Building the S3 client for a target: path-style, no SDK retries (the driver retries and records every attempt),
//! checksums only where S3 requires them (many S3-compatible servers reject the SDK's default CRC32 headers).

use std::time::Duration;

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig,
};
use aws_sdk_s3::Client;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

/// Credentials resolved for a client. `Debug` never prints the secret.
#[derive(Clone)]
pub enum ClientCredentials {
    Static {
        access_key: String,
        secret_key: String,
    },
    /// AWS's standard environment variables, then the shared config/credentials files (optionally a named profile).
    /// sfko does not consult instance metadata (IMDS) on its own; only a profile that says so
    /// (`credential_source = Ec2InstanceMetadata`, `role_arn`, SSO, `credential_process`) reaches further.
    AwsChain {
        profile: Option<String>,
    },
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientCredentials::Static { access_key, .. } => write!(f, "Static({access_key}, secret redacted)"),
            ClientCredentials::AwsChain { profile } => write!(f, "AwsChain({profile:?})"),
        }
    }
}

/// Fails early, with a message a person can act on, when no credentials can be found at all — instead of every
/// request failing later as "no response".
pub async fn check_credentials(credentials: &ClientCredentials) -> Result<(), String> {
    use aws_sdk_s3::config::ProvideCredentials;
    let ClientCredentials::AwsChain { profile } = credentials else {
        return Ok(());
    };
    match chain(profile.as_deref()).provide_credentials().await {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "no S3 credentials found ({}): set SFKO_ACCESS_KEY and SFKO_SECRET_KEY, AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, or name a profile or env vars in --config",
            e
        )),
    }
}

/// AWS's environment variables, then the shared config and credentials files.
fn chain(profile: Option<&str>) -> aws_config::meta::credentials::CredentialsProviderChain {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_config::meta::credentials::CredentialsProviderChain;
    use aws_config::profile::ProfileFileCredentialsProvider;
    let mut files = ProfileFileCredentialsProvider::builder();
    if let Some(profile) = profile {
        files = files.profile_name(profile);
    }
    CredentialsProviderChain::first_try("environment", EnvironmentVariableCredentialsProvider::new())
        .or_else("profile", files.build())
}

/// An S3 client for `endpoint`.
pub fn build(endpoint: &str, region: &str, credentials: &ClientCredentials) -> Client {
    let mut builder = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .force_path_style(true)
        .retry_config(RetryConfig::disabled())
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        // No attempt timeout here: the driver cuts off an attempt that shows no sign of life, so a big body
        // that keeps moving is never cut short, and its watchdog ends a run whose target stopped answering.
        .timeout_config(TimeoutConfig::builder().connect_timeout(Duration::from_secs(10)).build())
        .interceptor(crate::driver::StageTracker)
        .interceptor(super::request_shape::MainstreamShape);
    builder = match credentials {
        ClientCredentials::Static { access_key, secret_key } => {
            builder.credentials_provider(Credentials::new(access_key, secret_key, None, None, "sfko"))
        }
        ClientCredentials::AwsChain { profile } => builder.credentials_provider(chain(profile.as_deref())),
    };
    Client::from_conf(builder.build())
}
