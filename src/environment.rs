//! Alpaca environments and the URLs each one resolves to.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::url::HttpUrl;

/// The path suffix Alpaca's SDKs put on the Trading API base URLs
/// (`https://paper-api.alpaca.markets/v2`), accepted by
/// [`Environment::of_api_base_url`].
pub(crate) const TRADING_API_VERSION_SUFFIX: &str = "/v2";

/// An Alpaca environment. Credentials never cross environments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Environment {
    /// Live trading (`api.alpaca.markets`): real money.
    Live,
    /// Paper trading (`paper-api.alpaca.markets`). The default.
    Paper,
    /// The Broker API in production (`broker-api.alpaca.markets`).
    Broker,
    /// The Broker API sandbox (`broker-api.sandbox.alpaca.markets`).
    BrokerSandbox,
}

/// The hosts of one environment: a row of [`HOSTS`].
struct Hosts {
    environment: Environment,
    api_base: &'static str,
    data_base: &'static str,
    token: Option<&'static str>,
    market_data_stream: &'static str,
    trade_updates_stream: Option<&'static str>,
}

/// Every URL Alpaca publishes for each environment, in the order of
/// [`Environment::ALL`]: the one place the hosts are spelled (the tables of
/// docs/behaviour.md are checked against it). Credentials never cross rows.
const HOSTS: [Hosts; 4] = [
    Hosts {
        environment: Environment::Live,
        api_base: "https://api.alpaca.markets",
        data_base: "https://data.alpaca.markets",
        token: None,
        market_data_stream: "wss://stream.data.alpaca.markets",
        trade_updates_stream: Some("wss://api.alpaca.markets/stream"),
    },
    Hosts {
        environment: Environment::Paper,
        api_base: "https://paper-api.alpaca.markets",
        data_base: "https://data.alpaca.markets",
        token: None,
        market_data_stream: "wss://stream.data.alpaca.markets",
        trade_updates_stream: Some("wss://paper-api.alpaca.markets/stream"),
    },
    Hosts {
        environment: Environment::Broker,
        api_base: "https://broker-api.alpaca.markets",
        data_base: "https://data.alpaca.markets",
        token: Some("https://authx.alpaca.markets/v1/oauth2/token"),
        market_data_stream: "wss://stream.data.alpaca.markets",
        trade_updates_stream: None,
    },
    Hosts {
        environment: Environment::BrokerSandbox,
        api_base: "https://broker-api.sandbox.alpaca.markets",
        data_base: "https://data.sandbox.alpaca.markets",
        token: Some("https://authx.sandbox.alpaca.markets/v1/oauth2/token"),
        market_data_stream: "wss://stream.data.sandbox.alpaca.markets",
        trade_updates_stream: None,
    },
];

// A row out of place would give one environment another's hosts.
const _: () = {
    let mut i = 0;
    while i < HOSTS.len() {
        assert!(
            HOSTS[i].environment as usize == i,
            "HOSTS is not in the order of the enum"
        );
        i += 1;
    }
};

impl Environment {
    /// Every environment, in a stable order.
    pub const ALL: [Environment; 4] = [
        Environment::Live,
        Environment::Paper,
        Environment::Broker,
        Environment::BrokerSandbox,
    ];

    /// The name used by `APCA_ENVIRONMENT` and the CLI.
    pub const fn as_str(self) -> &'static str {
        match self {
            Environment::Live => "live",
            Environment::Paper => "paper",
            Environment::Broker => "broker",
            Environment::BrokerSandbox => "broker-sandbox",
        }
    }

    /// The row of [`HOSTS`] of this environment.
    const fn hosts(self) -> &'static Hosts {
        &HOSTS[self as usize]
    }

    /// The Trading API (live, paper) or Broker API base URL.
    pub const fn api_base_url(self) -> &'static str {
        self.hosts().api_base
    }

    /// The Market Data API base URL.
    pub const fn data_base_url(self) -> &'static str {
        self.hosts().data_base
    }

    /// The OAuth2 token endpoint for client credentials, where Alpaca offers
    /// one (not yet for the Trading API: `live` and `paper` have none).
    pub const fn token_url(self) -> Option<&'static str> {
        self.hosts().token
    }

    /// The base of the Market Data WebSocket streams, without a trailing
    /// slash: `wss://stream.data.sandbox.alpaca.markets` for
    /// `broker-sandbox`, `wss://stream.data.alpaca.markets` for the others
    /// (`broker` included: Alpaca gives broker partners the production
    /// market-data streams). Stocks stream at `/v2/{feed}` (`iex`, `sip`)
    /// below it. Authenticated by a first message
    /// `{"action":"auth","key":..,"secret":..}` with an API key pair
    /// ([`Client::stream_auth_message`](crate::Client::stream_auth_message));
    /// these streams are reported not to accept OAuth access tokens.
    pub const fn market_data_stream_base(self) -> &'static str {
        self.hosts().market_data_stream
    }

    /// The trade-updates WebSocket stream of the Trading API:
    /// `wss://api.alpaca.markets/stream` (live) and
    /// `wss://paper-api.alpaca.markets/stream` (paper), authenticated by the
    /// same key-pair auth message. `None` for `broker` and `broker-sandbox`:
    /// the Broker API has no trade-updates WebSocket among the facts this
    /// crate relies on (it publishes events over server-sent events, which
    /// this crate does not cover).
    pub const fn trade_updates_stream_url(self) -> Option<&'static str> {
        self.hosts().trade_updates_stream
    }

    /// Whether this is a Trading API environment (`live`, `paper`), whose
    /// base URLs the SDKs also write with [`TRADING_API_VERSION_SUFFIX`].
    const fn is_trading(self) -> bool {
        matches!(self, Environment::Live | Environment::Paper)
    }

    /// The host of [`api_base_url`](Self::api_base_url).
    fn api_host(self) -> &'static str {
        let url = self.api_base_url();
        url.strip_prefix("https://").unwrap_or(url)
    }

    /// The environment whose known API base URL `url` is: exactly
    /// [`api_base_url`](Self::api_base_url) (ASCII case and a trailing `/`
    /// ignored), or for `live` and `paper` that URL with the `/v2` suffix
    /// of Alpaca's SDKs. `None` for any other URL (a proxy, a mock, a
    /// malformed one).
    pub fn of_api_base_url(url: &str) -> Option<Environment> {
        let url = HttpUrl::parse_base(url).ok()?;
        let text = url.as_str();
        Environment::ALL.into_iter().find(|environment| {
            let base = environment.api_base_url();
            let versioned = environment.is_trading()
                && text.len() == base.len() + TRADING_API_VERSION_SUFFIX.len()
                && text.is_char_boundary(base.len())
                && text[base.len()..].eq_ignore_ascii_case(TRADING_API_VERSION_SUFFIX)
                && text[..base.len()].eq_ignore_ascii_case(base);
            versioned || text.eq_ignore_ascii_case(base)
        })
    }

    /// The environment whose API host `url` (any path) is on, if that is
    /// another environment than this one: credentials of this environment
    /// would be sent there.
    pub(crate) fn conflicting_api_host(self, url: &str) -> Option<Environment> {
        let url = HttpUrl::parse(url).ok()?;
        if !url.is_https() {
            return None;
        }
        Environment::ALL
            .into_iter()
            .find(|environment| url.host().eq_ignore_ascii_case(environment.api_host()))
            .filter(|&environment| environment != self)
    }

    /// Refuses an API base URL on another environment's API host (see
    /// [`of_api_base_url`](Self::of_api_base_url) for the known URLs). A URL
    /// on no known host (a proxy, a mock) is accepted.
    pub(crate) fn check_api_base_url(self, url: &str) -> Result<()> {
        match self.conflicting_api_host(url) {
            Some(other) => Err(Error::config(format!(
                "the API base URL is on {}, the host of the {other} environment, but the environment is {self}: credentials never cross environments; set the environment to {other} or use another base URL",
                other.api_host()
            ))),
            None => Ok(()),
        }
    }

    /// Whether this environment moves real money or real customer accounts.
    pub const fn is_production(self) -> bool {
        matches!(self, Environment::Live | Environment::Broker)
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = Error;

    /// Parses `live`, `paper`, `broker` or `broker-sandbox` (ASCII case and
    /// surrounding spaces ignored; `_` accepted for `-`).
    fn from_str(s: &str) -> Result<Self> {
        let name = s.trim();
        Environment::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(&name.replace('_', "-")))
            .ok_or_else(|| {
                Error::config(format!(
                    "unknown environment {:?}: expected one of live, paper, broker, broker-sandbox",
                    crate::url::printable_prefix(name)
                ))
            })
    }
}

/// The URLs a client uses, resolved from its environment and overrides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    environment: Environment,
    api_base: HttpUrl,
    data_base: HttpUrl,
    token: Option<HttpUrl>,
}

impl Endpoints {
    /// Resolves the environment's URLs, applying each override that is set.
    /// Every URL is validated: `https://`, or `http://` to a loopback host.
    pub fn resolve(
        environment: Environment,
        api_base: Option<&str>,
        data_base: Option<&str>,
        token: Option<&str>,
    ) -> Result<Self> {
        let api_base = HttpUrl::parse_base(api_base.unwrap_or(environment.api_base_url()))?;
        let data_base = HttpUrl::parse_base(data_base.unwrap_or(environment.data_base_url()))?;
        let token = match token.or(environment.token_url()) {
            Some(url) => Some(HttpUrl::parse(url)?),
            None => None,
        };
        Ok(Endpoints {
            environment,
            api_base,
            data_base,
            token,
        })
    }

    /// The environment these URLs were resolved for.
    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// Trading API or Broker API base URL, without a trailing slash.
    pub fn api_base(&self) -> &str {
        self.api_base.as_str()
    }

    /// Market Data API base URL, without a trailing slash.
    pub fn data_base(&self) -> &str {
        self.data_base.as_str()
    }

    /// The OAuth2 token endpoint, if the environment has one or it was set.
    pub fn token_url(&self) -> Option<&str> {
        self.token.as_ref().map(HttpUrl::as_str)
    }

    /// The Market Data WebSocket base of the environment
    /// ([`Environment::market_data_stream_base`]); not changed by the base
    /// URL overrides.
    pub fn market_data_stream_base(&self) -> &'static str {
        self.environment.market_data_stream_base()
    }

    /// The Market Data stream of stocks for `feed` (`iex` or `sip`):
    /// `{market_data_stream_base}/v2/{feed}`.
    pub fn market_data_stream_url(&self, feed: &str) -> String {
        format!("{}/v2/{feed}", self.market_data_stream_base())
    }

    /// The trade-updates WebSocket of the environment, if it has one
    /// ([`Environment::trade_updates_stream_url`]); not changed by the base
    /// URL overrides.
    pub fn trade_updates_stream_url(&self) -> Option<&'static str> {
        self.environment.trade_updates_stream_url()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_environment_is_paper_and_not_production() {
        assert_eq!(Environment::default(), Environment::Paper);
        assert!(!Environment::default().is_production());
    }

    /// Every URL of every environment, as resolved with no override:
    /// (environment, API base, data base, token endpoint, market-data
    /// stream base, trade-updates stream).
    type Row = (
        Environment,
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
        Option<&'static str>,
    );
    const EXPECTED: [Row; 4] = [
        (
            Environment::Live,
            "https://api.alpaca.markets",
            "https://data.alpaca.markets",
            None,
            "wss://stream.data.alpaca.markets",
            Some("wss://api.alpaca.markets/stream"),
        ),
        (
            Environment::Paper,
            "https://paper-api.alpaca.markets",
            "https://data.alpaca.markets",
            None,
            "wss://stream.data.alpaca.markets",
            Some("wss://paper-api.alpaca.markets/stream"),
        ),
        (
            Environment::Broker,
            "https://broker-api.alpaca.markets",
            "https://data.alpaca.markets",
            Some("https://authx.alpaca.markets/v1/oauth2/token"),
            "wss://stream.data.alpaca.markets",
            None,
        ),
        (
            Environment::BrokerSandbox,
            "https://broker-api.sandbox.alpaca.markets",
            "https://data.sandbox.alpaca.markets",
            Some("https://authx.sandbox.alpaca.markets/v1/oauth2/token"),
            "wss://stream.data.sandbox.alpaca.markets",
            None,
        ),
    ];

    #[test]
    fn every_environment_resolves_every_published_url() {
        for (environment, api, data, token, stream, trade_updates) in EXPECTED {
            let e = Endpoints::resolve(environment, None, None, None).unwrap();
            assert_eq!(e.environment(), environment);
            assert_eq!(e.api_base(), api, "{environment}");
            assert_eq!(e.data_base(), data, "{environment}");
            assert_eq!(e.token_url(), token, "{environment}");
            assert_eq!(e.market_data_stream_base(), stream, "{environment}");
            assert_eq!(
                e.market_data_stream_url("sip"),
                format!("{stream}/v2/sip"),
                "{environment}"
            );
            assert_eq!(e.trade_updates_stream_url(), trade_updates, "{environment}");
            // The base URL overrides move no stream.
            let moved = Endpoints::resolve(
                environment,
                Some("http://127.0.0.1:9000"),
                Some("http://127.0.0.1:9001"),
                Some("http://127.0.0.1:9002/token"),
            )
            .unwrap();
            assert_eq!(moved.market_data_stream_base(), stream, "{environment}");
            assert_eq!(moved.trade_updates_stream_url(), trade_updates);
        }
    }

    #[test]
    fn the_rows_of_the_host_table_follow_environment_all() {
        for (i, environment) in Environment::ALL.into_iter().enumerate() {
            assert_eq!(HOSTS[i].environment, environment);
            assert_eq!(environment as usize, i);
        }
    }

    /// The URLs (`https://...`, `wss://...`) and `none`s of the rows of
    /// docs/behaviour.md's tables that start with `name`.
    fn documented(name: &str) -> Vec<String> {
        let start = format!("| `{name}` ");
        include_str!("../docs/behaviour.md")
            .lines()
            .filter(|line| line.starts_with(&start))
            .flat_map(|line| line.split('|').skip(2))
            .map(|cell| cell.trim().trim_matches('`').to_owned())
            .filter(|cell| !cell.is_empty())
            .collect()
    }

    #[test]
    fn the_docs_tables_give_every_environment_its_urls() {
        for (environment, api, data, token, stream, trade_updates) in EXPECTED {
            let cells = documented(environment.as_str());
            let expected: Vec<String> = [
                Some(api),
                Some(data),
                Some(token.unwrap_or("none")),
                Some(stream),
                Some(trade_updates.unwrap_or("none")),
            ]
            .into_iter()
            .flatten()
            .map(str::to_owned)
            .collect();
            assert_eq!(cells, expected, "docs/behaviour.md, rows of {environment}");
        }
    }

    #[test]
    fn overrides_replace_each_url() {
        let e = Endpoints::resolve(
            Environment::Paper,
            Some("http://127.0.0.1:9000/"),
            Some("http://localhost:9001"),
            Some("http://[::1]:9002/v1/oauth2/token"),
        )
        .unwrap();
        assert_eq!(e.api_base(), "http://127.0.0.1:9000");
        assert_eq!(e.data_base(), "http://localhost:9001");
        assert_eq!(e.token_url(), Some("http://[::1]:9002/v1/oauth2/token"));
    }

    #[test]
    fn environment_names_parse_and_unknown_ones_are_refused() {
        assert_eq!(
            "Broker_Sandbox".parse::<Environment>().unwrap(),
            Environment::BrokerSandbox
        );
        assert_eq!(" live ".parse::<Environment>().unwrap(), Environment::Live);
        let err = "prod".parse::<Environment>().unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        assert!(err.to_string().contains("\"prod\""), "{err}");
        assert!(err.to_string().contains("broker-sandbox"), "{err}");
    }

    #[test]
    fn known_base_urls_name_their_environment_and_others_none() {
        let cases: &[(&str, Option<Environment>)] = &[
            ("https://api.alpaca.markets", Some(Environment::Live)),
            ("https://api.alpaca.markets/", Some(Environment::Live)),
            ("https://api.alpaca.markets/v2", Some(Environment::Live)),
            ("HTTPS://API.Alpaca.Markets/v2/", Some(Environment::Live)),
            ("https://paper-api.alpaca.markets", Some(Environment::Paper)),
            (
                " https://paper-api.alpaca.markets/v2 ",
                Some(Environment::Paper),
            ),
            (
                "https://broker-api.alpaca.markets/",
                Some(Environment::Broker),
            ),
            (
                "https://broker-api.sandbox.alpaca.markets",
                Some(Environment::BrokerSandbox),
            ),
            // The /v2 suffix is the Trading API's only.
            ("https://broker-api.alpaca.markets/v2", None),
            ("https://api.alpaca.markets/v1", None),
            ("https://api.alpaca.markets/v2/orders", None),
            ("http://127.0.0.1:8080", None),
            ("https://alpaca-proxy.example.com", None),
            ("https://api.alpaca.markets.example.com", None),
            ("not a url", None),
        ];
        for (url, expected) in cases {
            assert_eq!(Environment::of_api_base_url(url), *expected, "{url}");
        }
    }

    #[test]
    fn a_base_url_on_another_environments_host_is_refused_by_the_builder() {
        let builder = |environment, url: &str| {
            crate::Client::builder()
                .environment(environment)
                .api_base_url(url)
                .credentials(crate::Credentials::api_key("PKTEST", "secret"))
        };
        let err = builder(Environment::Paper, "https://api.alpaca.markets/v2")
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        assert!(err.message().contains("live environment"), "{err}");
        assert!(err.message().contains("environment is paper"), "{err}");
        let err = builder(
            Environment::Broker,
            "https://broker-api.sandbox.alpaca.markets",
        )
        .build()
        .unwrap_err();
        assert!(
            err.message().contains("broker-sandbox environment"),
            "{err}"
        );

        let live = builder(Environment::Live, "https://api.alpaca.markets/v2")
            .build()
            .unwrap();
        assert_eq!(
            live.endpoints().trade_updates_stream_url(),
            Some("wss://api.alpaca.markets/stream")
        );
        // A proxy or a mock: no environment is known for it.
        let proxied = builder(Environment::Paper, "https://alpaca-proxy.example.com")
            .build()
            .unwrap();
        assert_eq!(
            proxied.endpoints().api_base(),
            "https://alpaca-proxy.example.com"
        );
    }
}
