"""A foreign reflection client: grpcio-reflection (which speaks grpc.reflection.v1alpha) lists
the server's services and resolves a method's request type, with no .proto files at hand.

Usage: reflection.py HOST:PORT
Prints "reflection: ok" and the services; exits non-zero if anything is missing.
"""
import sys

import grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from google.protobuf.descriptor_pool import DescriptorPool

EXPECTED = {
    "ledger.v1.LedgerService",
    "ledger.v1.QueryService",
    "ledger.v1.AuditService",
    "grpc.health.v1.Health",
}


def main():
    channel = grpc.insecure_channel(sys.argv[1])
    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    missing = EXPECTED - services
    if missing:
        sys.exit(f"reflection: missing services {sorted(missing)} in {sorted(services)}")
    pool = DescriptorPool(database)
    method = pool.FindServiceByName("ledger.v1.LedgerService").FindMethodByName("SubmitClaim")
    if method.input_type.full_name != "ledger.v1.SubmitClaimRequest":
        sys.exit(f"reflection: SubmitClaim takes {method.input_type.full_name}")
    fields = {f.name for f in method.input_type.fields}
    if not {"claim_code", "facility_id", "lines"} <= fields:
        sys.exit(f"reflection: SubmitClaimRequest fields {sorted(fields)}")
    print("reflection: ok", " ".join(sorted(services)))


if __name__ == "__main__":
    main()
