//! Starting and stopping the real server binary for end-to-end tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

use pb::ledger_service_client::LedgerServiceClient;
use proto::v1 as pb;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;

/// Adds `authorization: Bearer <token>` to every call (nothing without a token).
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A connection to the server that presents a token (or none).
pub type Channel = InterceptedService<tonic::transport::Channel, Bearer>;

pub fn bearer(token: Option<&str>) -> Bearer {
    Bearer(token.map(|t| format!("Bearer {t}").parse().unwrap()))
}

/// The real `claims-ledger serve` on 127.0.0.1 with a free port.
pub struct Server {
    child: Child,
    /// `host:port`
    pub addr: String,
    /// `host:port` of the Prometheus endpoint, when started with one.
    pub metrics: Option<String>,
}

impl Server {
    pub fn start(data_dir: &std::path::Path) -> Server {
        Server::start_with(data_dir, &[])
    }

    /// [`Server::start_with`], or the server's standard error when it exits before it
    /// listens (it refused to start).
    pub fn try_start_with(data_dir: &std::path::Path, args: &[&str]) -> Result<Server, String> {
        let stderr_path = data_dir.with_extension("stderr");
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_claims-ledger"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start the server");
        let mut server = Server {
            child,
            addr: String::new(),
            metrics: None,
        };
        let mut stdout = BufReader::new(server.child.stdout.take().unwrap());
        loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = server.child.wait();
                return Err(std::fs::read_to_string(&stderr_path).unwrap_or_default());
            }
            let line = line.trim();
            if let Some(addr) = line.strip_prefix("metrics on ") {
                server.metrics = Some(addr.to_owned());
            } else if let Some(addr) = line.strip_prefix("listening on ") {
                server.addr = addr.to_owned();
                return Ok(server);
            }
        }
    }

    /// `serve --listen 127.0.0.1:0 --data-dir <dir>` plus `args`; returns once it listens.
    pub fn start_with(data_dir: &std::path::Path, args: &[&str]) -> Server {
        Server::try_start_with(data_dir, args)
            .unwrap_or_else(|stderr| panic!("the server did not start:\n{stderr}"))
    }

    /// A plaintext connection presenting `token`.
    pub async fn channel(&self, token: Option<&str>) -> Channel {
        let channel = tonic::transport::Endpoint::from_shared(self.url())
            .unwrap()
            .connect()
            .await
            .unwrap();
        InterceptedService::new(channel, bearer(token))
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to the server process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal}");
    }

    /// SIGTERM, then wait for the process to end, whatever its exit status (a server that
    /// cannot flush a full disk exits with an error).
    pub fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap();
    }

    /// Waits for the server to exit by itself (at most `max`), and returns its exit code.
    pub fn exit_code_within(mut self, max: std::time::Duration) -> Option<i32> {
        let mut child = std::mem::replace(
            &mut self.child,
            Command::new("true").spawn().expect("spawn true"),
        );
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = rx
            .recv_timeout(max)
            .unwrap_or_else(|_| panic!("the server did not exit within {max:?}"));
        status.unwrap().code()
    }

    /// SIGTERM, then wait: the server drains, checkpoints and flushes.
    pub fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "server exited with {exit}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn date(y: i32, m: i32, d: i32) -> Option<pb::Date> {
    Some(pb::Date {
        year: y,
        month: m,
        day: d,
    })
}

pub fn kes(minor: i64) -> Option<pb::Money> {
    Some(pb::Money {
        minor_units: minor,
        currency_code: "KES".into(),
    })
}

/// Publishes the iPUSH scheme, registers household HH-1 and enrols member M-1.
pub async fn register_member(ledger: &mut LedgerServiceClient<Channel>) {
    ledger
        .publish_scheme(pb::PublishSchemeRequest {
            request_id: "setup-1".into(),
            document: adjudicator::examples::IPUSH_KE.into(),
            effective_from: date(2026, 1, 1),
        })
        .await
        .unwrap();
    household_with_member(ledger).await;
}

/// Registers household HH-1 (iPUSH, 2 January 2026) and enrols member M-1 in it.
pub async fn household_with_member(ledger: &mut LedgerServiceClient<Channel>) {
    ledger
        .register_household(pb::RegisterHouseholdRequest {
            request_id: "setup-2".into(),
            household_id: "HH-1".into(),
            scheme_id: "ipush-ke".into(),
            location_code: "KSM".into(),
            socio_economic_category: String::new(),
            registered_on: date(2026, 1, 2),
        })
        .await
        .unwrap();
    ledger
        .enroll_member(pb::EnrollMemberRequest {
            request_id: "setup-3".into(),
            member_id: "M-1".into(),
            household_id: "HH-1".into(),
            gender: pb::Gender::Female as i32,
            birth_date: date(1996, 3, 14),
            is_head: true,
            facility_id: String::new(),
            enrolled_on: date(2026, 1, 2),
        })
        .await
        .unwrap();
}

pub async fn setup_household(ledger: &mut LedgerServiceClient<Channel>) {
    register_member(ledger).await;
    ledger
        .record_contribution(pb::RecordContributionRequest {
            request_id: "s-4".into(),
            receipt_id: "MPESA-1".into(),
            household_id: "HH-1".into(),
            member_id: String::new(),
            amount: kes(1_000_000),
            channel: pb::PaymentChannel::MobileMoney as i32,
            received_on: date(2026, 2, 1),
        })
        .await
        .unwrap();
    ledger
        .pay_premium(pb::PayPremiumRequest {
            period_start: None,
            request_id: "s-5".into(),
            receipt_id: "P-1".into(),
            household_id: "HH-1".into(),
            product_id: "NHIF-SUPA".into(),
            amount: kes(600_000),
            source: pb::PremiumSource::Wallet as i32,
            paid_on: date(2026, 2, 10),
        })
        .await
        .unwrap();
}

pub fn visit_claim(request: &str, code: &str, day: i32) -> pb::SubmitClaimRequest {
    pb::SubmitClaimRequest {
        request_id: request.into(),
        claim_code: code.into(),
        facility_id: "KE-KSM-NYALENDA".into(),
        member_id: "M-1".into(),
        date_from: date(2026, 3, day),
        date_to: None,
        claim_date: date(2026, 3, day),
        diagnosis_codes: vec![],
        lines: vec![
            pb::ClaimLine {
                line_no: 1,
                kind: pb::LineKind::Service as i32,
                code: "OPD-VISIT".into(),
                quantity: 1,
                asked_unit_price: None,
            },
            pb::ClaimLine {
                line_no: 2,
                kind: pb::LineKind::Item as i32,
                code: "FEFOL-60".into(),
                quantity: 2,
                asked_unit_price: None,
            },
        ],
        decided_on: date(2026, 3, day),
    }
}

/// Today's date in UTC as (year, month, day): the server's business date for a claim that
/// gives none.
pub fn utc_today() -> (i32, i32, i32) {
    use chrono::Datelike;
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400;
    let today = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Days::new(days);
    (today.year(), today.month() as i32, today.day() as i32)
}

/// The log's head position, read through the audit service with `token`.
pub async fn head_position(server: &Server, token: Option<&str>) -> u64 {
    let mut audit = pb::audit_service_client::AuditServiceClient::new(server.channel(token).await);
    audit
        .verify_log(pb::VerifyLogRequest {
            from_position: 0,
            to_position: 0,
            partition: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .head_position
}

/// A message whose encoding is the given bytes, as they are (for sending malformed input).
#[derive(Clone, Default, PartialEq)]
pub struct RawBytes(pub Vec<u8>);

impl std::fmt::Debug for RawBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} raw bytes", self.0.len())
    }
}

impl prost::Message for RawBytes {
    fn encode_raw(&self, buf: &mut impl prost::bytes::BufMut) {
        buf.put_slice(&self.0);
    }
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl prost::bytes::Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }
    fn encoded_len(&self) -> usize {
        self.0.len()
    }
    fn clear(&mut self) {
        self.0.clear();
    }
}

/// One token per role, in clear (the config holds their digests).
pub const ROLES: [(&str, &str); 4] = [
    ("admin", "admin-token-7f3a"),
    ("insurer", "insurer-token-91bc"),
    ("facility", "nyalenda-token-05de"),
    ("auditor", "auditor-token-c4e2"),
];

/// A config file with one token per role; the facility token is bound to Nyalenda.
pub fn tokens_config(dir: &std::path::Path) -> std::path::PathBuf {
    let mut text = String::new();
    for (role, token) in ROLES {
        text.push_str(&format!(
            "[[tokens]]\nname = \"{role}-1\"\nrole = \"{role}\"\nsha256 = \"{}\"\n",
            claims_ledger::api::auth::hash_token(token)
        ));
        if role == "facility" {
            text.push_str("facility_id = \"KE-KSM-NYALENDA\"\n");
        }
    }
    let path = dir.join("ledger.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub fn token(role: &str) -> &'static str {
    ROLES.iter().find(|(r, _)| *r == role).unwrap().1
}

/// A household's wallet balance in minor units, through `GetBalance`.
pub async fn wallet(
    query: &mut pb::query_service_client::QueryServiceClient<Channel>,
    household: &str,
) -> i64 {
    query
        .get_balance(pb::GetBalanceRequest {
            subject: Some(pb::get_balance_request::Subject::HouseholdId(
                household.into(),
            )),
            currency_code: String::new(),
            as_of_date: None,
        })
        .await
        .unwrap()
        .into_inner()
        .balance
        .unwrap()
        .minor_units
}

/// GET `path` from `addr` over HTTP/1.1: the status line and the body.
pub fn http_get(addr: &str, path: &str) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

/// The longest [`until_available`] retries.
pub const AVAILABLE_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

/// Sends `call` again while it is refused UNAVAILABLE (a node restarting, a takeover under
/// way) or its connection was cut (a node switching roles restarts its gRPC server), as a
/// client of the ledger on Kafka does, for at most [`AVAILABLE_WITHIN`]; returns the first
/// other answer. Each retry is the same request (same request id): the ledger answers it
/// once.
pub async fn until_available<T, F, Fut>(mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let deadline = std::time::Instant::now() + AVAILABLE_WITHIN;
    loop {
        match call().await {
            Err(status)
                if (status.code() == tonic::Code::Unavailable
                    || (status.code() == tonic::Code::Unknown
                        && status.message().contains("transport error")))
                    && std::time::Instant::now() < deadline =>
            {
                // Back off between attempts (a client's retry policy, not a wait for a
                // condition the test could observe).
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            answer => return answer,
        }
    }
}

/// `serve` arguments for a ledger of two partitions on the test broker (`--log kafka://` with
/// the topic in a config file's `[kafka]`, written in `dir`).
pub fn kafka_args(dir: &std::path::Path, topic: &str) -> Vec<String> {
    let config = dir.join("kafka.toml");
    std::fs::write(
        &config,
        format!(
            "log = \"kafka://{}\"\n\n[kafka]\ntopic = \"{topic}\"\n",
            ledger::log::kafka::testing::bootstrap()
        ),
    )
    .unwrap();
    let config = config.to_string_lossy().into_owned();
    ["--config", &config, "--partitions", "2"]
        .map(str::to_owned)
        .to_vec()
}

/// Asks that `request` be answered once the node reflects `receipt`'s command (a
/// consistency token: `ledger-at-least: <partition>:<offset after its events>`).
pub fn at_least<T>(request: &mut tonic::Request<T>, receipt: &pb::CommandReceipt) {
    let token = format!(
        "{}:{}",
        receipt.partition,
        receipt.first_position + u64::from(receipt.event_count)
    );
    request
        .metadata_mut()
        .insert("ledger-at-least", token.parse().unwrap());
}
