"""A foreign client: Python grpcio, generated from the .proto files, runs a claim flow.

Usage: claim_flow.py HOST:PORT PROTO_DIR SCHEME_TOML ADMIN_TOKEN FACILITY_TOKEN
The facility token is bound to KE-KSM-NYALENDA. Errors are read the way any client would: the
status code, and the google.rpc details (ErrorInfo, BadRequest) in the trailers.
Exits non-zero (with the failing step) if anything is not as expected.
"""
import datetime
import os
import subprocess
import sys
import tempfile

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def generate(proto_dir, out_dir):
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", proto_dir,
         "--python_out", out_dir, "--grpc_python_out", out_dir,
         "ledger/v1/events.proto", "ledger/v1/service.proto"],
        check=True,
    )
    sys.path.insert(0, out_dir)


def main():
    address, proto_dir, scheme_path, admin_token, facility_token = sys.argv[1:6]
    out_dir = tempfile.mkdtemp(prefix="ledger-py-")
    generate(proto_dir, out_dir)
    from ledger.v1 import events_pb2 as ev
    from ledger.v1 import service_pb2 as sv
    from ledger.v1 import service_pb2_grpc as rpc

    channel = grpc.insecure_channel(address)
    admin = [("authorization", "Bearer " + admin_token)]
    clinic = [("authorization", "Bearer " + facility_token)]

    class Authed:
        """A stub whose every call presents one token."""

        def __init__(self, stub, metadata):
            self.stub, self.metadata = stub, metadata

        def __getattr__(self, name):
            method = getattr(self.stub, name)
            return lambda request: method(request, metadata=self.metadata)

    ledger = Authed(rpc.LedgerServiceStub(channel), admin)
    query = Authed(rpc.QueryServiceStub(channel), admin)
    clinic_ledger = Authed(rpc.LedgerServiceStub(channel), clinic)

    def details(error):
        """The ErrorInfo and BadRequest details of a failed call (None when absent)."""
        status = rpc_status.from_call(error)
        info = bad = None
        for detail in status.details if status else []:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
        return info, bad

    def day(y, m, d):
        return ev.Date(year=y, month=m, day=d)

    def kes(minor):
        return ev.Money(minor_units=minor, currency_code="KES")

    with open(scheme_path) as f:
        document = f.read()
    ledger.PublishScheme(sv.PublishSchemeRequest(request_id="py-1", document=document, effective_from=day(2026, 1, 1)))
    ledger.RegisterHousehold(sv.RegisterHouseholdRequest(
        request_id="py-2", household_id="HH-PY", scheme_id="ipush-ke", registered_on=day(2026, 1, 2)))
    ledger.EnrollMember(sv.EnrollMemberRequest(
        request_id="py-3", member_id="M-PY", household_id="HH-PY", gender=ev.GENDER_FEMALE,
        birth_date=day(1994, 6, 1), is_head=True, enrolled_on=day(2026, 1, 2)))
    ledger.RecordContribution(sv.RecordContributionRequest(
        request_id="py-4", receipt_id="MPESA-PY-1", household_id="HH-PY", amount=kes(400000),
        channel=ev.PAYMENT_CHANNEL_MOBILE_MONEY, received_on=day(2026, 2, 1)))
    premium = ledger.PayPremium(sv.PayPremiumRequest(
        request_id="py-5", receipt_id="PREM-PY-1", household_id="HH-PY", product_id="NHIF-SUPA",
        amount=kes(600000), source=ev.PREMIUM_SOURCE_WALLET, paid_on=day(2026, 2, 10)))
    assert premium.policy_id, "a policy id"

    # Without a token: refused before anything runs.
    try:
        rpc.QueryServiceStub(channel).GetTrialBalance(sv.GetTrialBalanceRequest())
        raise AssertionError("an anonymous call was served")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNAUTHENTICATED, e.code()

    # The clinic submits its own claim: decided on the server's date, never on one it chooses.
    visit = sv.SubmitClaimRequest(
        request_id="py-6", claim_code="PY-CLAIM-1", facility_id="KE-KSM-NYALENDA", member_id="M-PY",
        date_from=day(2026, 3, 5), claim_date=day(2026, 3, 5), decided_on=day(2026, 3, 5),
        lines=[ev.ClaimLine(line_no=1, kind=ev.LINE_KIND_ITEM, code="FEFOL-60", quantity=2)])
    try:
        clinic_ledger.SubmitClaim(visit)
        raise AssertionError("a facility chose its decision date")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.PERMISSION_DENIED, e.code()
        assert details(e)[0].reason == "DECIDED_ON_NOT_ALLOWED", details(e)
        assert e.details().startswith("decided_on:"), e.details()
    # Claims decided elsewhere (an offline import) come with their date from the insurer side.
    claim = ledger.SubmitClaim(visit)
    d = claim.decision
    assert d.status == ev.DECISION_STATUS_ACCEPTED, d
    # 2 x 350 KES at 80%: 560 paid, 140 copay.
    assert d.total_payer.minor_units == 56000, d.total_payer
    assert d.total_copay.minor_units == 14000, d.total_copay
    fetched = query.GetClaim(sv.GetClaimRequest(claim_id=claim.claim_id))
    assert fetched.claim_status == sv.CLAIM_STATUS_ACCEPTED, fetched.claim_status
    undated = sv.SubmitClaimRequest()
    undated.CopyFrom(visit)
    undated.ClearField("decided_on")
    undated.request_id, undated.claim_code = "py-6b", "PY-CLAIM-0"
    before = datetime.datetime.now(datetime.timezone.utc).date()
    own = clinic_ledger.SubmitClaim(undated)
    after = datetime.datetime.now(datetime.timezone.utc).date()
    decided = datetime.date(own.decision.decided_on.year, own.decision.decided_on.month,
                            own.decision.decided_on.day)
    assert before <= decided <= after, (before, decided, after)

    # 4,000 saved + 4,000 county (capped at 3,000) + 2,000 donor - 6,000 premium = 3,000.
    balance = query.GetBalance(sv.GetBalanceRequest(household_id="HH-PY"))
    assert balance.balance.minor_units == 300000, balance

    try:
        ledger.RecordContribution(sv.RecordContributionRequest(
            request_id="py-7", receipt_id="MPESA-PY-2", household_id="HH-PY", amount=kes(-5),
            channel=ev.PAYMENT_CHANNEL_MOBILE_MONEY, received_on=day(2026, 2, 1)))
        raise AssertionError("a negative contribution was accepted")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e.code()
        assert e.details().startswith("amount:"), e.details()
        info, bad = details(e)
        assert info.domain == "claims-ledger" and info.metadata["field"] == "amount", info
        assert bad.field_violations[0].field == "amount", bad

    # The clinic may not publish schemes, nor claim for another facility.
    try:
        clinic_ledger.PublishScheme(sv.PublishSchemeRequest(request_id="py-8", document=document))
        raise AssertionError("a facility published a scheme")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.PERMISSION_DENIED, e.code()
        assert details(e)[0].reason == "ROLE_NOT_ALLOWED", details(e)
    try:
        clinic_ledger.SubmitClaim(sv.SubmitClaimRequest(
            request_id="py-9", claim_code="PY-CLAIM-2", facility_id="KE-KSM-LUMUMBA",
            member_id="M-PY", date_from=day(2026, 3, 6), claim_date=day(2026, 3, 6),
            lines=[ev.ClaimLine(line_no=1, kind=ev.LINE_KIND_SERVICE, code="OPD-VISIT", quantity=1)]))
        raise AssertionError("a facility claimed for another")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.PERMISSION_DENIED, e.code()
        info, _ = details(e)
        assert (info.reason, info.metadata["field"]) == ("OTHER_FACILITY", "facility_id"), info
    print("python client: ok")


if __name__ == "__main__":
    main()
