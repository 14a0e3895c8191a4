//! Moving a log in and out: `export` (events as protobuf-delimited `StoredEvent`s or as JSON
//! Lines; facility statements as CSV) and `import` (either event format, into an empty log).
//!
//! An import is faithful or refused: each event's chain hash is recomputed from its exported
//! content before it is appended, and appended with its original request id and timestamp,
//! so the imported log has the very same hashes, and the same head, as the exported one.

use std::io::{BufRead, Write};

use ledger::codec::{Wire, encode_envelope, event_bytes};
use ledger::event::{Event, StreamId};
use ledger::log::{AppendRequest, EventLog, Head};
use ledger::{Amount, RecordedEvent, RequestId, chain};
use prost::Message;
use proto::v1 as pb;
use serde::{Deserialize, Serialize};

/// An event file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `ledger.v1.StoredEvent` messages, each preceded by its length as a varint (the
    /// protobuf "delimited" framing): the lossless format for tools in any language.
    Protobuf,
    /// One JSON object per line: position, stream, stream_version, recorded_at_unix_ms,
    /// request_id, event, hash (hex).
    Jsonl,
}

/// One event as a JSON line.
#[derive(Serialize, Deserialize)]
struct JsonEvent {
    position: u64,
    stream: String,
    stream_version: u64,
    recorded_at_unix_ms: i64,
    request_id: String,
    event: Event,
    hash: String,
}

/// Events read from the log per step of an export.
const EXPORT_CHUNK_EVENTS: usize = 8_192;
/// Events appended per commit during an import.
const IMPORT_COMMIT_EVENTS: usize = 4_096;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Writes the events in `from..to` to `out`; `progress` is told how many are written so
/// far. Returns the number written.
pub async fn export<L: EventLog>(
    log: &L,
    from: u64,
    to: u64,
    format: Format,
    out: &mut dyn Write,
    progress: &dyn Fn(u64),
) -> Result<u64, Error> {
    let mut next = from;
    let mut buffer = Vec::new();
    while next < to {
        let events = log
            .read(next, EXPORT_CHUNK_EVENTS.min((to - next) as usize))
            .await?;
        if events.is_empty() {
            break;
        }
        next += events.len() as u64;
        for e in events {
            match format {
                Format::Protobuf => {
                    buffer.clear();
                    stored_pb(e).encode_length_delimited(&mut buffer)?;
                    out.write_all(&buffer)?;
                }
                Format::Jsonl => {
                    let line = JsonEvent {
                        position: e.position,
                        stream: e.stream.to_string(),
                        stream_version: e.stream_version,
                        recorded_at_unix_ms: e.recorded_at_unix_ms,
                        request_id: e.request_id.to_string(),
                        hash: chain::hex(&e.hash),
                        event: e.event,
                    };
                    serde_json::to_writer(&mut *out, &line)?;
                    out.write_all(b"\n")?;
                }
            }
        }
        progress(next - from);
    }
    out.flush()?;
    Ok(next - from)
}

/// The wire form of a stored event (also what `AuditService.ReadEvents` streams).
pub fn stored_pb(e: RecordedEvent) -> pb::StoredEvent {
    pb::StoredEvent {
        event: Some(pb::RecordedEvent {
            position: e.position,
            stream: Some(e.stream.to_pb()),
            stream_version: e.stream_version,
            recorded_at_unix_ms: e.recorded_at_unix_ms,
            request_id: e.request_id.to_string(),
            event: Some(e.event.to_pb()),
        }),
        hash: e.hash.to_vec(),
    }
}

fn from_stored_pb(stored: pb::StoredEvent) -> Result<RecordedEvent, String> {
    let e = stored.event.ok_or("event: missing")?;
    let hash: chain::Hash = stored
        .hash
        .as_slice()
        .try_into()
        .map_err(|_| format!("hash: {} bytes, expected 32", stored.hash.len()))?;
    Ok(RecordedEvent {
        position: e.position,
        stream: StreamId::from_pb(e.stream.ok_or("stream: missing")?).map_err(|e| e.to_string())?,
        stream_version: e.stream_version,
        recorded_at_unix_ms: e.recorded_at_unix_ms,
        request_id: e
            .request_id
            .parse()
            .map_err(|e| format!("request_id: {e}"))?,
        event: Event::from_pb(e.event.ok_or("event.event: missing")?).map_err(|e| e.to_string())?,
        hash,
    })
}

fn from_json(line: &str) -> Result<RecordedEvent, String> {
    let j: JsonEvent = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let hash = chain::from_hex(&j.hash).map_err(|e| format!("hash: {e}"))?;
    Ok(RecordedEvent {
        position: j.position,
        stream: j.stream.parse().map_err(|e| format!("stream: {e}"))?,
        stream_version: j.stream_version,
        recorded_at_unix_ms: j.recorded_at_unix_ms,
        request_id: j
            .request_id
            .parse::<RequestId>()
            .map_err(|e| format!("request_id: {e}"))?,
        event: j.event,
        hash,
    })
}

/// Reads the events of an export file, in order. Errors name the record (1-based).
pub fn read_events(
    format: Format,
    mut input: impl BufRead,
) -> impl Iterator<Item = Result<RecordedEvent, String>> {
    let mut record = 0u64;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        record += 1;
        let next = match format {
            Format::Jsonl => {
                let mut line = String::new();
                match input.read_line(&mut line) {
                    Ok(0) => return None,
                    Ok(_) => from_json(line.trim_end()),
                    Err(e) => Err(e.to_string()),
                }
            }
            Format::Protobuf => match read_delimited(&mut input) {
                Ok(None) => return None,
                Ok(Some(bytes)) => pb::StoredEvent::decode(bytes.as_slice())
                    .map_err(|e| e.to_string())
                    .and_then(from_stored_pb),
                Err(e) => Err(e),
            },
        };
        failed = next.is_err();
        Some(next.map_err(|e| format!("record {record}: {e}")))
    })
}

/// One length-delimited message, or `None` at a clean end of the input.
fn read_delimited(input: &mut impl BufRead) -> Result<Option<Vec<u8>>, String> {
    let mut length: u64 = 0;
    for i in 0..10 {
        let mut byte = [0u8; 1];
        match input.read(&mut byte) {
            Ok(0) if i == 0 => return Ok(None),
            Ok(0) => return Err("truncated length".into()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
        length |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] & 0x80 == 0 {
            let max = ledger::Limits::default().event_bytes_max as u64 * 2;
            if length > max {
                return Err(format!("a message of {length} bytes, more than {max}"));
            }
            let mut bytes = vec![0u8; length as usize];
            input
                .read_exact(&mut bytes)
                .map_err(|e| format!("truncated message: {e}"))?;
            return Ok(Some(bytes));
        }
    }
    Err("malformed length".into())
}

/// Appends exported events to `log`, which must be empty, checking each against its chain
/// hash first. On an error the log holds a prefix of the file: import into a fresh
/// directory and keep it only on success (what `claims-ledger import` does).
pub async fn import<L: EventLog>(
    log: &L,
    events: impl Iterator<Item = Result<RecordedEvent, String>>,
    progress: &dyn Fn(u64),
) -> Result<Head, Error> {
    let head = log.head();
    if head.next_position != 0 {
        return Err(format!(
            "data-dir: the log already holds {} events; import needs an empty one",
            head.next_position
        )
        .into());
    }
    let mut previous = chain::GENESIS;
    let mut expected_position = 0u64;
    let mut pending: Vec<(AppendRequest, u64)> = Vec::new();
    let mut pending_events = 0usize;
    let mut body = Vec::new();
    let mut envelope = Vec::new();
    for event in events {
        let e = event?;
        let at = format!("position {}", e.position);
        if e.position != expected_position {
            return Err(format!("{at}: expected position {expected_position}").into());
        }
        body.clear();
        body.extend_from_slice(&event_bytes(&e.event));
        envelope.clear();
        encode_envelope(
            e.position,
            &e.stream,
            e.stream_version,
            e.recorded_at_unix_ms,
            &e.request_id,
            &body,
            &mut envelope,
        );
        let hash = chain::link(&previous, &envelope);
        if hash != e.hash {
            return Err(format!(
                "{at}: the exported hash does not match the event's content and the chain \
                 before it (the file was altered or is not an export)"
            )
            .into());
        }
        previous = hash;
        expected_position += 1;
        // Consecutive events of one request were one atomic append: keep them together.
        let new = ledger::NewEvent {
            stream: e.stream,
            event: e.event,
        };
        match pending.last_mut() {
            Some((request, _)) if request.request_id == e.request_id => {
                if request.recorded_at_unix_ms != Some(e.recorded_at_unix_ms) {
                    return Err(format!("{at}: one request recorded at two times").into());
                }
                request.events.push(new);
            }
            _ => {
                if pending_events >= IMPORT_COMMIT_EVENTS {
                    append(log, std::mem::take(&mut pending)).await?;
                    pending_events = 0;
                    progress(expected_position - 1);
                }
                pending.push((
                    AppendRequest::new(e.request_id, vec![new]).recorded_at(e.recorded_at_unix_ms),
                    e.position,
                ));
            }
        }
        pending_events += 1;
    }
    append(log, pending).await?;
    progress(expected_position);
    let head = log.head();
    if head.hash != previous || head.next_position != expected_position {
        return Err(format!(
            "position {}: the imported head differs from the export's",
            head.next_position
        )
        .into());
    }
    Ok(head)
}

/// Appends requests in one commit, checking each landed where the export had it.
async fn append<L: EventLog>(log: &L, requests: Vec<(AppendRequest, u64)>) -> Result<(), Error> {
    if requests.is_empty() {
        return Ok(());
    }
    let (requests, positions): (Vec<_>, Vec<_>) = requests.into_iter().unzip();
    let ids: Vec<RequestId> = requests.iter().map(|r| r.request_id.clone()).collect();
    for ((outcome, position), id) in log
        .append_all(requests)
        .await
        .into_iter()
        .zip(positions)
        .zip(ids)
    {
        let outcome = outcome.map_err(|e| format!("position {position}: {e}"))?;
        if outcome.already_appended || outcome.first_position != position {
            return Err(
                format!("position {position}: request {id} appears twice in the export").into(),
            );
        }
    }
    Ok(())
}

/// Facility statements as CSV, one row per facility and period, amounts in major units with
/// the currency's decimals. Ids and enum names cannot hold commas or quotes, so no field
/// needs quoting.
pub fn statements_csv(
    projections: &projections::Projections,
    out: &mut dyn Write,
) -> std::io::Result<usize> {
    writeln!(
        out,
        "facility_id,period_id,method,currency,amount_due,paid,outstanding,lines"
    )?;
    let decimal = |a: Amount| {
        let text = a.to_string();
        text.rsplit_once(' ')
            .map_or(text.clone(), |(n, _)| n.to_owned())
    };
    let mut rows = 0;
    for ((facility, period), s) in &projections.payments.statements {
        writeln!(
            out,
            "{facility},{period},{},{},{},{},{},{}",
            pb::PaymentMethod::try_from(s.method.to_pb())
                .map(|m| m.as_str_name().trim_start_matches("PAYMENT_METHOD_"))
                .unwrap_or("UNSPECIFIED"),
            s.due.currency().code(),
            decimal(s.due),
            decimal(s.paid),
            decimal(s.outstanding()),
            s.line_count(),
        )?;
        rows += 1;
    }
    out.flush()?;
    Ok(rows)
}
