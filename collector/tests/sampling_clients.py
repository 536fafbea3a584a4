"""Real Jaeger remote-sampling clients, driven by collector/tests/sampling.rs.

    remote-sampler HOST PORT SERVICE
        Runs jaeger-client's RemoteControlledSampler (PyPI `jaeger-client`)
        against http://HOST:PORT/sampling, polling every 0.1 s, and prints
        the sampler it holds as one JSON line each time it changes, starting
        with its initial sampler. Runs until stdin closes.

    grpc HOST PORT SERVICE
        Generates Python stubs from jaeger-idl's sampling.proto (test data
        next to this file) with grpcio-tools, calls
        SamplingManager/GetSamplingStrategy once and prints the response as
        one JSON line (protobuf's JSON mapping).

The interpreter is the venv scripts/install-tools.sh installs
(.tools/bin/sampling-clients-python).
"""

import json
import os
import sys
import tempfile
import threading


def describe(sampler):
    """The sampler's kind and parameters, from jaeger-client's own classes."""
    from jaeger_client.sampler import (AdaptiveSampler, ProbabilisticSampler,
                                       RateLimitingSampler)
    if isinstance(sampler, ProbabilisticSampler):
        return {"sampler": "probabilistic", "rate": sampler.rate}
    if isinstance(sampler, RateLimitingSampler):
        return {"sampler": "ratelimiting", "max_traces_per_second": sampler.traces_per_second}
    if isinstance(sampler, AdaptiveSampler):
        return {
            "sampler": "per_operation",
            "default_rate": sampler.default_sampling_probability,
            "lower_bound": sampler.lower_bound,
            "operations": {
                name: op.probabilistic_sampler.rate for name, op in sorted(sampler.samplers.items())
            },
        }
    return {"sampler": type(sampler).__name__}


def remote_sampler(host, port, service):
    import time

    from jaeger_client.local_agent_net import LocalAgentSender
    from jaeger_client.sampler import (DEFAULT_SAMPLING_PROBABILITY, ProbabilisticSampler,
                                       RemoteControlledSampler)

    # jaeger-client's own initial sampler, printed before the first poll can replace it.
    initial = ProbabilisticSampler(DEFAULT_SAMPLING_PROBABILITY)
    last = describe(initial)
    print(json.dumps(last, sort_keys=True), flush=True)
    # The reporting port is UDP and unused here: no span is reported.
    channel = LocalAgentSender(host=host, sampling_port=int(port), reporting_port=9)
    sampler = RemoteControlledSampler(channel=channel, service_name=service,
                                      init_sampler=initial, sampling_refresh_interval=0.1)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    while not stop.is_set():
        with sampler.lock:
            now = describe(sampler.sampler)
        if now != last:
            print(json.dumps(now, sort_keys=True), flush=True)
            last = now
        time.sleep(0.02)
    sampler.close()


def grpc_call(host, port, service):
    import grpc
    from google.protobuf import json_format
    from grpc_tools import protoc

    here = os.path.dirname(os.path.abspath(__file__))
    protos = os.path.join(here, "fixtures", "jaeger-sampling", "proto")
    import google.api
    googleapis = os.path.dirname(os.path.dirname(google.api.__path__[0]))
    well_known = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    out = tempfile.mkdtemp(prefix="jaeger-sampling-stubs-")
    status = protoc.main([
        "protoc", "-I", protos, "-I", googleapis, "-I", well_known,
        "--python_out", out, "--grpc_python_out", out,
        "api_v2/sampling.proto", "gogoproto/gogo.proto",
    ])
    if status != 0:
        sys.exit("protoc failed on sampling.proto")
    sys.path.insert(0, out)
    from api_v2 import sampling_pb2, sampling_pb2_grpc

    with grpc.insecure_channel(f"{host}:{port}") as channel:
        stub = sampling_pb2_grpc.SamplingManagerStub(channel)
        response = stub.GetSamplingStrategy(
            sampling_pb2.SamplingStrategyParameters(serviceName=service), timeout=10)
    print(json.dumps(json_format.MessageToDict(response), sort_keys=True), flush=True)


if __name__ == "__main__":
    mode, host, port, service = sys.argv[1:5]
    {"remote-sampler": remote_sampler, "grpc": grpc_call}[mode](host, port, service)
