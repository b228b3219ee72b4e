"""Apply a directory plan (JSON on stdin) to a DC's local sam.ldb in one transaction."""

# Runs under Debian's /usr/bin/python3 (Samba's bindings), never under the project's Python,
# and imports nothing from `auditor`. Opening sam.ldb locally is what samba-tool does by
# default too: tdb locking makes it safe while samba runs, and it is the only way to write
# what LDAP refuses (objectSid of a BUILTIN group, RBCD on 4.17).
# Plan: {"smb_conf", "sam_ldb", "batch_mode": bool, "ops": [{"op": ..., ...}]}
# References: "id:KEY" (created earlier in the plan), "sam:NAME", "sid:SID", "wk:users",
# "wk:computers", "wk:builtin", "wk:domain".

from __future__ import annotations

import json
import sys
import time
from typing import Any

import ldb
from samba.auth import system_session
from samba.dcerpc import security
from samba.ndr import ndr_pack, ndr_unpack
from samba.param import LoadParm
from samba.samdb import SamDB

# BUILTIN groups as Samba provisions them (domain-local, system-critical).
BUILTIN_GROUP_TYPE = "-2147483643"
BUILTIN_SYSTEM_FLAGS = "-1946157056"
RBCD = "msDS-AllowedToActOnBehalfOfOtherIdentity"


class PlanError(Exception):
    """A reference or step of the plan cannot be carried out."""


class Applier:
    """Keeps the open database and the DNs of what the plan created so far."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.base = db.get_default_basedn()
        self.ids: dict[str, Any] = {}
        self.sam_cache: dict[str, Any] = {}
        self.objects = 0

    def dn(self, ref: str) -> Any:
        kind, _, value = ref.partition(":")
        if kind == "id":
            if value not in self.ids:
                raise PlanError(f"reference {ref!r} is not created earlier in the plan")
            return self.ids[value]
        if kind == "wk":
            parents = {"users": "CN=Users", "computers": "CN=Computers", "builtin": "CN=Builtin"}
            if value == "domain":
                return self.base
            return ldb.Dn(self.db, f"{parents[value]},{self.base}")
        if kind == "sam":
            if value not in self.sam_cache:
                self.sam_cache[value] = self.find(
                    f"(sAMAccountName={ldb.binary_encode(value)})", ref
                )
            return self.sam_cache[value]
        if kind == "sid":
            return self.find(f"(objectSid={ldb.binary_encode(value)})", ref)
        raise PlanError(f"bad reference {ref!r}")

    def find(self, expression: str, ref: str) -> Any:
        found = self.db.search(self.base, ldb.SCOPE_SUBTREE, expression, attrs=[])
        if len(found) != 1:
            raise PlanError(f"{ref!r} matches {len(found)} objects")
        return found[0].dn

    def child(self, parent: Any, rdn: str, name: str) -> Any:
        """Build the DN with ldb so names with , + < > " ; etc. are escaped correctly."""
        dn = ldb.Dn(self.db, "CN=placeholder")
        dn.set_component(0, rdn, name)
        dn.add_base(parent)
        return dn

    def exists(self, dn: Any) -> bool:
        try:
            return len(self.db.search(dn, ldb.SCOPE_BASE, attrs=[])) == 1
        except ldb.LdbError as error:
            if error.args[0] == ldb.ERR_NO_SUCH_OBJECT:
                return False
            raise

    def sid(self, dn: Any) -> Any:
        raw = self.db.search(dn, ldb.SCOPE_BASE, attrs=["objectSid"])[0]["objectSid"][0]
        return ndr_unpack(security.dom_sid, raw)

    def op_add(self, op: dict[str, Any]) -> None:
        dn = self.child(self.dn(op["parent"]), op.get("rdn", "CN"), op["name"])
        msg = ldb.Message(dn)
        for attr, values in op["attrs"].items():
            msg[attr] = ldb.MessageElement(
                [str(v).encode() for v in values], ldb.FLAG_MOD_ADD, attr
            )
        if op.get("password"):
            encoded = ('"' + op["password"] + '"').encode("utf-16-le")
            msg["unicodePwd"] = ldb.MessageElement([encoded], ldb.FLAG_MOD_ADD, "unicodePwd")
        self.db.add(msg)
        self.ids[op["id"]] = dn
        self.objects += 1

    def op_ensure_ou(self, op: dict[str, Any]) -> None:
        dn = self.child(self.dn(op["parent"]), "OU", op["name"])
        if not self.exists(dn):
            self.db.add({"dn": dn, "objectClass": "organizationalUnit"})
            self.objects += 1
        self.ids[op["id"]] = dn

    def op_ensure_builtin_group(self, op: dict[str, Any]) -> None:
        """Samba 4.17 lacks some BUILTIN groups; only relax lets objectSid be chosen."""
        found = self.db.search(
            self.base, ldb.SCOPE_SUBTREE, f"(objectSid={ldb.binary_encode(op['sid'])})", attrs=[]
        )
        if found:
            self.ids[op["id"]] = found[0].dn
            return
        dn = self.child(self.dn("wk:builtin"), "CN", op["name"])
        self.db.add(
            {
                "dn": dn,
                "objectClass": "group",
                "sAMAccountName": op["name"],
                "objectSid": ndr_pack(security.dom_sid(op["sid"])),
                "groupType": BUILTIN_GROUP_TYPE,
                "systemFlags": BUILTIN_SYSTEM_FLAGS,
                "isCriticalSystemObject": "TRUE",
                "description": op["description"],
            },
            controls=["relax:0"],
        )
        self.ids[op["id"]] = dn
        self.objects += 1

    def op_add_members(self, op: dict[str, Any]) -> None:
        group = self.dn(op["target"])
        current = {
            str(v).lower()
            for v in self.db.search(group, ldb.SCOPE_BASE, attrs=["member"])[0].get("member", [])
        }
        new = [str(self.dn(ref)) for ref in op["members"]]
        new = [dn for dn in dict.fromkeys(new) if dn.lower() not in current]
        if new:
            msg = ldb.Message(group)
            msg["member"] = ldb.MessageElement(new, ldb.FLAG_MOD_ADD, "member")
            self.db.modify(msg)

    def op_set_primary_group(self, op: dict[str, Any]) -> None:
        """Samba demands membership first; it then drops the member link, as AD does."""
        self.op_add_members({"target": op["group"], "members": [op["target"]]})
        rid = str(self.sid(self.dn(op["group"]))).rsplit("-", 1)[1]
        self.replace(self.dn(op["target"]), "primaryGroupID", [rid])

    def op_allow_to_act(self, op: dict[str, Any]) -> None:
        """RBCD: the security descriptor samba-tool delegation add-principal writes."""
        target = self.dn(op["target"])
        sd = security.descriptor()
        sd.revision = security.SD_REVISION
        sd.type = security.SEC_DESC_DACL_PRESENT | security.SEC_DESC_SELF_RELATIVE
        sd.owner_sid = security.dom_sid(security.SID_BUILTIN_ADMINISTRATORS)
        dacl = security.acl()
        dacl.revision = security.SECURITY_ACL_REVISION_ADS
        aces = []
        for ref in op["principals"]:
            ace = security.ace()
            ace.type = security.SEC_ACE_TYPE_ACCESS_ALLOWED
            ace.flags = 0
            ace.access_mask = security.SEC_ADS_GENERIC_ALL
            ace.trustee = self.sid(self.dn(ref))
            aces.append(ace)
        dacl.aces = aces
        dacl.num_aces = len(aces)
        sd.dacl = dacl
        msg = ldb.Message(target)
        msg[RBCD] = ldb.MessageElement([ndr_pack(sd)], ldb.FLAG_MOD_REPLACE, RBCD)
        self.db.modify(msg)

    def op_replace(self, op: dict[str, Any]) -> None:
        self.replace(self.dn(op["target"]), op["attr"], [str(v) for v in op["values"]])

    def replace(self, dn: Any, attr: str, values: list[str]) -> None:
        msg = ldb.Message(dn)
        msg[attr] = ldb.MessageElement(values, ldb.FLAG_MOD_REPLACE, attr)
        self.db.modify(msg)


def main() -> int:
    plan = json.load(sys.stdin)
    started = time.monotonic()
    lp = LoadParm()
    lp.load(plan["smb_conf"])
    # batch_mode skips the per-operation nested transaction (a failure fails the whole
    # commit, fine for a one-shot seed): ~3x faster. A bigger index cache, as provision uses
    # for joins, keeps the rate from sagging past ~10k objects (36k -> 49k a minute at 20k).
    options = []
    if plan.get("batch_mode"):
        options = ["batch_mode:1", "transaction_index_cache_size:200000"]
    db = SamDB(url=plan["sam_ldb"], session_info=system_session(), lp=lp, options=options)
    opened = time.monotonic()
    applier = Applier(db)
    db.transaction_start()
    try:
        for index, op in enumerate(plan["ops"]):
            try:
                getattr(applier, f"op_{op['op']}")(op)
            except (ldb.LdbError, PlanError, KeyError, AttributeError) as exc:
                label = op.get("id") or op.get("target") or ""
                raise PlanError(f"step {index} ({op.get('op')} {label}): {exc}") from exc
        applied = time.monotonic()
        db.transaction_commit()
    except BaseException:
        db.transaction_cancel()
        raise
    done = time.monotonic()
    json.dump(
        {
            "objects": applier.objects,
            "seconds": {
                "open": round(opened - started, 3),
                "apply": round(applied - opened, 3),
                "commit": round(done - applied, 3),
            },
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except PlanError as error:
        print(f"apply_plan: {error}", file=sys.stderr)
        sys.exit(1)
