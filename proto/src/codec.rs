//! The gRPC codec of the services: tonic's prost codec, except that a message that does not
//! decode as its type is `INVALID_ARGUMENT` (the sender's mistake) rather than `INTERNAL`, with
//! the same google.rpc details as every other error of the API: `ErrorInfo` (reason
//! `MALFORMED_MESSAGE`, the field in its metadata) and a `BadRequest` violation naming the
//! field prost was decoding (`lines.quantity`), or the message when it knows none. (A client
//! that cannot decode a response still reports INTERNAL: that fault is the server's.)

use std::collections::HashMap;
use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic::{Code, Status};
use tonic_prost::ProstEncoder;
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every error the API returns.
pub const ERROR_DOMAIN: &str = "claims-ledger";

/// The codec the generated services and clients use (`codec_path` in build.rs).
#[derive(Debug, Clone)]
pub struct LedgerCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for LedgerCodec<T, U> {
    fn default() -> Self {
        LedgerCodec(PhantomData)
    }
}

impl<T, U> Codec for LedgerCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = MessageDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        MessageDecoder(PhantomData)
    }
}

#[derive(Debug, Clone)]
pub struct MessageDecoder<U>(PhantomData<U>);

impl<U: Message + Default> Decoder for MessageDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf).map(Some).map_err(decode_error::<U>)
    }
}

/// The status for a `U` that failed to decode. Every request message of ledger.v1 is named
/// `...Request` (AIP), and only a server decodes requests: a client that cannot decode an
/// answer got a broken one from the server, which is not the client's mistake.
fn decode_error<U>(error: prost::DecodeError) -> Status {
    let message = short_type_name::<U>();
    if message.ends_with("Request") {
        malformed(message, &error)
    } else {
        Status::internal(format!(
            "{message} from the server does not decode: {error}"
        ))
    }
}

fn short_type_name<U>() -> &'static str {
    let full = std::any::type_name::<U>();
    full.rsplit("::").next().unwrap_or(full)
}

/// The status for a `message` that failed to decode with `error`.
pub fn malformed(message: &str, error: &prost::DecodeError) -> Status {
    let (path, description) = field_path(&error.to_string());
    let field = if path.is_empty() { message } else { &path };
    let text = format!("{field}: not a valid {message} message: {description}");
    let mut details = ErrorDetails::with_error_info(
        "MALFORMED_MESSAGE",
        ERROR_DOMAIN,
        HashMap::from([("field".to_owned(), field.to_owned())]),
    );
    details.add_bad_request_violation(field, description);
    Status::with_error_details(Code::InvalidArgument, text, details)
}

/// Splits prost's rendering of a decode error, `failed to decode Protobuf message:
/// Inner.field: Outer.field: description` (innermost first), into the path from the request
/// down (`field.field`, snake case as in the .proto) and the description.
fn field_path(rendered: &str) -> (String, String) {
    let mut rest = rendered
        .strip_prefix("failed to decode Protobuf message: ")
        .unwrap_or(rendered);
    let mut fields = Vec::new();
    while let Some((segment, tail)) = rest.split_once(": ") {
        let Some((message, field)) = segment.split_once('.') else {
            break;
        };
        let ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
        if !ident(message) || !ident(field) {
            break;
        }
        fields.push(field);
        rest = tail;
    }
    fields.reverse();
    (fields.join("."), rest.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::v1;

    fn status_of<U: Message + Default>(bytes: &[u8]) -> Status {
        let Err(error) = U::decode(bytes) else {
            panic!("{bytes:?} decoded");
        };
        decode_error::<U>(error)
    }

    #[test]
    fn names_the_nested_field_from_the_request_down() {
        // lines (field 9) holding a ClaimLine whose quantity (field 4, varint) is cut short.
        let status = status_of::<v1::SubmitClaimRequest>(&[0x4a, 0x02, 0x20, 0xff]);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status
                .message()
                .starts_with("lines.quantity: not a valid SubmitClaimRequest"),
            "{}",
            status.message()
        );
        let info = status.get_details_error_info().unwrap();
        assert_eq!(info.reason, "MALFORMED_MESSAGE");
        assert_eq!(info.metadata["field"], "lines.quantity");
        let bad = status.get_details_bad_request().unwrap();
        assert_eq!(bad.field_violations[0].field, "lines.quantity");
    }

    #[test]
    fn an_answer_that_does_not_decode_is_internal() {
        let status = status_of::<v1::SubmitClaimResponse>(&[0x0f]);
        assert_eq!(status.code(), Code::Internal, "{status:?}");
        let status = status_of::<v1::SubmitClaimRequest>(&[0x0f]);
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }

    #[test]
    fn names_the_message_when_no_field_is_known() {
        // A key with wire type 7, which does not exist.
        let status = status_of::<v1::RegisterHouseholdRequest>(&[0x0f]);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status
                .message()
                .starts_with("RegisterHouseholdRequest: not a valid"),
            "{}",
            status.message()
        );
    }
}
