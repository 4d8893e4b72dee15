"""snapthunder: a Snaptron-format splice-junction index sharded by chromosome over PostgreSQL.

The shared package: the junction row format, the shard plan, the shard image's
contract and the endpoints document. infra/, images/ui, loaders/ and bench/
import these modules so that every fact lives in one place.
"""
