"""What Placement answers: reply bodies shaped for the negotiated microversion.

Links are relative to the service root: osc-placement appends them to the
endpoint URL from the catalog. Which fields appear at which version is decided
here and only here (parent/root uuids from 1.14, dict allocation requests from
1.12, traits in summaries from 1.17, consumer generations from 1.28, ...).
"""

from __future__ import annotations

from typing import Any

import orjson

from overcast.kit.microversion import APIVersion
from overcast.placement.models import Consumer
from overcast.placement.objects.allocation_candidate import CandidateResult, Summary
from overcast.placement.versions import VERSIONS


def root() -> dict[str, Any]:
    return {"versions": [{"id": "v1.0", "max_version": str(VERSIONS.max),
                          "min_version": str(VERSIONS.min), "status": "CURRENT",
                          "links": [{"rel": "self", "href": ""}]}]}


def provider(v: APIVersion, rp: dict[str, Any]) -> dict[str, Any]:
    b = f"/resource_providers/{rp['uuid']}"
    links = [{"rel": "self", "href": b}, {"rel": "inventories", "href": f"{b}/inventories"},
             {"rel": "usages", "href": f"{b}/usages"}]
    if v.at_least("1.1"):
        links.append({"rel": "aggregates", "href": f"{b}/aggregates"})
    if v.at_least("1.6"):
        links.append({"rel": "traits", "href": f"{b}/traits"})
    if v.at_least("1.11"):
        links.append({"rel": "allocations", "href": f"{b}/allocations"})
    out = {"uuid": rp["uuid"], "name": rp["name"], "generation": rp["generation"],
           "links": links}
    if v.at_least("1.14"):
        out["parent_provider_uuid"] = rp["parent_provider_uuid"]
        out["root_provider_uuid"] = rp["root_provider_uuid"]
    return out


def provider_location(uuid: str) -> dict[str, str]:
    return {"Location": f"/resource_providers/{uuid}"}


def inventory_location(uuid: str, rc: str) -> dict[str, str]:
    return {"Location": f"/resource_providers/{uuid}/inventories/{rc}"}


def resource_class(name: str) -> dict[str, Any]:
    return {"name": name, "links": [{"rel": "self", "href": f"/resource_classes/{name}"}]}


def resource_class_location(name: str) -> dict[str, str]:
    return {"Location": f"/resource_classes/{name}"}


def trait_location(name: str) -> dict[str, str]:
    return {"Location": f"/traits/{name}"}


def aggregates(v: APIVersion, generation: int, aggs: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"aggregates": aggs}
    if v.at_least("1.19"):
        body["resource_provider_generation"] = generation
    return body


def consumer_allocations(v: APIVersion, allocs: dict[str, dict[str, int]],
                         consumer: Consumer | None, gens: dict[str, int]) -> dict[str, Any]:
    body: dict[str, Any] = {"allocations": {
        rp: {"generation": gens[rp], "resources": res} for rp, res in allocs.items()}}
    if consumer is None:
        return body
    if v.at_least("1.12"):
        body["project_id"] = consumer.project_id
        body["user_id"] = consumer.user_id
    if v.at_least("1.28"):
        body["consumer_generation"] = consumer.generation
    if v.at_least("1.38"):
        body["consumer_type"] = consumer.consumer_type or "UNKNOWN"
    return body


def provider_allocations(generation: int, allocs: dict[str, dict[str, int]]
                         ) -> dict[str, Any]:
    return {"resource_provider_generation": generation, "allocations": {
        c: {"resources": r} for c, r in allocs.items()}}


def candidates_json(v: APIVersion, result: CandidateResult, resources: dict[str, int]
                    ) -> bytes:
    """The reply to GET /allocation_candidates, serialised (the route sends it as is).

    A thousand candidates and their summaries are shaped on every scheduling request
    Nova makes, so the body is put together from JSON fragments: a provider's
    summary is serialised once per shape and kept on the (cached, unchanging)
    summary object until the provider changes, and a one-provider allocation
    request is spliced from its uuid and the requested resources. The version
    checks are hoisted out of the loops.
    """
    dict_form, mappings = v.at_least("1.12"), v.at_least("1.34")
    with_traits, with_tree, all_classes = (v.at_least("1.17"), v.at_least("1.29"),
                                           v.at_least("1.27"))
    wanted = orjson.dumps(resources)
    requests = []
    for c in result.candidates:
        allocs = c.allocations
        if dict_form and len(allocs) == 1:
            [(rp, res)] = allocs.items()
            u = orjson.dumps(rp)
            item = b'{"allocations":{' + u + b':{"resources":' + (
                wanted if res == resources else orjson.dumps(res)) + b"}}"
            requests.append(item + b',"mappings":{"":[' + u + b"]}}" if mappings
                            else item + b"}")
        elif dict_form:
            body: dict[str, Any] = {"allocations": {rp: {"resources": res}
                                                    for rp, res in allocs.items()}}
            if mappings:
                body["mappings"] = {"": sorted(allocs)}
            requests.append(orjson.dumps(body))
        else:
            requests.append(orjson.dumps({"allocations": [
                {"resource_provider": {"uuid": rp}, "resources": res}
                for rp, res in allocs.items()]}))
    shape = (with_traits, with_tree)
    summaries = []
    for rp, s in result.summaries.items():
        memo = s.shaped if all_classes and isinstance(s, Summary) else None
        frag = memo.get(shape) if memo is not None else None
        if frag is None:
            entry: dict[str, Any] = {"resources": s["resources"]}
            if with_traits:
                entry["traits"] = s["traits"]
            if with_tree:
                entry["parent_provider_uuid"] = s["parent_provider_uuid"]
                entry["root_provider_uuid"] = s["root_provider_uuid"]
            if not all_classes:
                # before 1.27 summaries carry only the requested classes
                entry["resources"] = {rc: x for rc, x in entry["resources"].items()
                                      if rc in resources}
            frag = orjson.dumps(rp) + b":" + orjson.dumps(entry)
            if memo is not None:
                memo[shape] = frag
        summaries.append(frag)
    return (b'{"allocation_requests":[' + b",".join(requests) +
            b'],"provider_summaries":{' + b",".join(summaries) + b"}}")
