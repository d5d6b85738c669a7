"""CPU per call and added latency of the gateway, against a direct call, in one run.

    .venv/bin/python bench/cost.py [--seconds 8] [--rounds 3] [--mode auto|legacy]

The echo upstream and the gateway (JWT, policy and durable SQLite audit on) run in their
own processes; the load generator runs here. For 1 and 16 agents, the same echo tool is
called directly and through the gateway, alternately for `--rounds` rounds; each process's CPU (utime + stime from
/proc/PID/stat) is read before and after each run and divided by the calls made.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import LoadResult, run_load
from bench.stack import EchoStack, echo_stack

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """utime + stime of one process (or of one of its threads), in seconds (fields 14 and
    15 of /proc/PID/stat)."""
    stat = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass(frozen=True)
class Measured:
    load: LoadResult
    gateway_cpu: float
    upstream_cpu: float
    #: The gateway's main thread, which runs the event loop (the rest is mostly SQLite's).
    gateway_loop_cpu: float

    def per_call_ms(self, seconds: float) -> float:
        return seconds / self.load.calls * 1000 if self.load.calls else float("nan")


async def measure(
    stack: EchoStack, governed: bool, agents: int, seconds: float, mode: str, profile: str | None = None
) -> Measured:
    arguments = {"text": "hello from the benchmark"}
    spy = None
    if profile and governed:
        # --gil: only the thread holding the interpreter lock, i.e. the CPU Python spends.
        argv = ["py-spy", "record", "--pid", str(stack.gateway_pid), "--format", "raw", "--gil", "--rate", "997"]
        argv += ["--output", profile]
        spy = await asyncio.create_subprocess_exec(*argv, "--duration", str(int(seconds) + 2), "--nonblocking")
    loop = stack.gateway_pid
    before = cpu_seconds(stack.gateway_pid), cpu_seconds(stack.upstream_pid), cpu_seconds(loop, loop)
    if governed:
        load = await run_load(
            f"{stack.gateway}/mcp", "echo.echo", arguments, token=stack.token, agents=agents, seconds=seconds, mode=mode
        )
    else:
        load = await run_load(stack.upstream_mcp, "echo", arguments, agents=agents, seconds=seconds, mode=mode)
    after = cpu_seconds(stack.gateway_pid), cpu_seconds(stack.upstream_pid), cpu_seconds(loop, loop)
    if spy is not None:
        await spy.wait()
    return Measured(load, after[0] - before[0], after[1] - before[1], after[2] - before[2])


def report(agents: int, rounds: list[tuple[Measured, Measured]]) -> None:
    """Each round's figures, then their medians: one round on a shared machine can be off by a fifth."""
    print(f"--- {agents} agent(s)")
    throughput, added, gateway, upstream, ratio = [], [], [], [], []
    for direct, governed in rounds:
        throughput.append(governed.load.rate / direct.load.rate)
        added.append((governed.load.percentile(50) - direct.load.percentile(50)) * 1000)
        gateway.append(governed.per_call_ms(governed.gateway_cpu))
        upstream.append(governed.per_call_ms(governed.upstream_cpu))
        ratio.append(gateway[-1] / upstream[-1])
        print(direct.load.line("direct upstream"))
        print(governed.load.line("through the gateway"))
        print(
            f"  round: throughput ratio {throughput[-1]:.2f}, p50 added {added[-1]:.2f} ms, CPU per governed call "
            f"gateway {gateway[-1]:.3f} ms (event-loop thread {governed.per_call_ms(governed.gateway_loop_cpu):.3f}), "
            f"upstream {upstream[-1]:.3f} ms, ratio {ratio[-1]:.2f}"
        )
    print(f"throughput ratio gateway/direct: {statistics.median(throughput):.2f}   (median of {len(rounds)} rounds)")
    print(f"p50 added by the gateway:        {statistics.median(added):.2f} ms")
    print(
        f"CPU per governed call: gateway {statistics.median(gateway):.3f} ms, "
        f"upstream {statistics.median(upstream):.3f} ms, ratio {statistics.median(ratio):.2f}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3, help="direct and governed runs alternated this many times")
    parser.add_argument("--mode", default="auto", choices=["auto", "legacy", "2026-07-28"])
    parser.add_argument("--agents", type=int, nargs="+", default=[1, 16])
    parser.add_argument(
        "--profile", metavar="FILE", help="py-spy the gateway during governed runs (raw collapsed stacks)"
    )
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, {args.seconds:g} s per run, {args.rounds} rounds, protocol mode {args.mode}")
    async with echo_stack() as stack:
        for agents in args.agents:
            rounds = []
            for _ in range(args.rounds):
                direct = await measure(stack, False, agents, args.seconds, args.mode)
                governed = await measure(stack, True, agents, args.seconds, args.mode, args.profile)
                rounds.append((direct, governed))
            report(agents, rounds)


if __name__ == "__main__":
    asyncio.run(main())
