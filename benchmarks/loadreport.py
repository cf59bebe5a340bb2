"""The load benchmark's report: figures as text, next to the targets."""

from __future__ import annotations

from typing import Any

from loadspec import SCENARIO_TEXT, STORM_ARRIVAL, TARGETS, Config, described

# ---------------------------------------------------------------- report


def report(cfg: Config, fig: dict[str, Any], meta: dict[str, str]) -> str:
    def num(key: str, unit: str = "", digits: int = 2) -> str:
        value = fig.get(key)
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.{digits}f}{unit}"
        return f"{value}{unit}"

    out = []
    title = (f"scenario {cfg.scenario}: {described(SCENARIO_TEXT[cfg.scenario], vars(cfg))}"
             if cfg.scenario else "custom run")
    out.append(title)
    out.append("  " + ", ".join(f"{k}={v}" for k, v in meta.items()))
    each = cfg.per_sender if cfg.senders else 0
    out.append(f"  clients {cfg.clients}, senders {cfg.senders} x {each}"
               f" messages, rate {'full speed' if cfg.rate <= 0 else f'{cfg.rate:g}/s'},"
               f" login by {cfg.login}")
    out.append(f"  login:            {num('login_s', ' s', 3)} for {cfg.clients} clients"
               f" (server CPU {num('login_cpu_s', ' s')})")
    if cfg.senders:
        out.append(f"  sent/confirmed:   {num('sent')} / {num('confirmed')}")
        out.append(f"  deliveries:       {num('deliveries')} in {num('chat_s', ' s')}"
                   f" = {num('deliveries_per_s', '/s', 0)}")
        out.append(f"  lost messages:    {num('lost')}")
        out.append(f"  latency all:      p50 {num('p50_ms', ' ms')}  p99 {num('p99_ms', ' ms')}"
                   f"  max {num('max_ms', ' ms')}")
        out.append(f"  latency first:    p50 {num('first_p50_ms', ' ms')}"
                   f"  p99 {num('first_p99_ms', ' ms')}  max {num('first_max_ms', ' ms')}")
        out.append(f"  server CPU:       {num('server_cpu_s', ' s', 3)}"
                   f" (user {num('server_user_s', ' s')}, system {num('server_sys_s', ' s')})"
                   f" = {num('cpu_us_per_delivery', ' us', 3)} per delivery,"
                   f" {num('server_core_pct', '%', 1)} of one core")
        out.append(f"  load generator:   {num('bench_cpu_s', ' s')} CPU (it shares the machine);"
                   f" other processes used {num('others_core_pct', '%', 0)} of a core meanwhile")
    if cfg.storm:
        out.append(f"  login storm:      {num('storm_logins')} password logins in"
                   f" {num('storm_login_s', ' s')}; latency meanwhile p50"
                   f" {num('storm_p50_ms', ' ms')} p99 {num('storm_p99_ms', ' ms')}"
                   f" max {num('storm_max_ms', ' ms')} ({num('storm_deliveries')} deliveries);"
                   f" first receiver p99 {num('storm_first_p99_ms', ' ms')}")
        out.append(f"  ... from {STORM_ARRIVAL:g} s into it on: p99"
                   f" {num('storm_after_p99_ms', ' ms')} max {num('storm_after_max_ms', ' ms')}")
    if cfg.idle:
        out.append(f"  idle server CPU:  {num('idle_cpu_pct', '%', 2)} of one core"
                   f" over {cfg.idle:g} s")
    if cfg.arrivals:
        out.append(f"  arrivals:         server CPU per join"
                   f" {num('burst_cpu_ms_per_join', ' ms', 3)} all at once,"
                   f" {num('paced_cpu_ms_per_join', ' ms', 3)} at"
                   f" {cfg.arrivals:g}/s (over {num('paced_s', ' s')});"
                   f" ratio {num('arrival_ratio', '', 2)}")
        out.append(f"                    (user/system: {num('burst_user_s', ' s')}"
                   f" / {num('burst_sys_s', ' s')} all at once, {num('paced_user_s', ' s')}"
                   f" / {num('paced_sys_s', ' s')} paced; the first login"
                   f" {num('first_cpu_ms_per_join', ' ms', 3)} per join until in, without"
                   f" its last presence batch: ratio {num('first_login_ratio', '', 2)})")
        out.append(f"  paced logins:     p50 {num('paced_login_p50_ms', ' ms', 1)}, p99"
                   f" {num('paced_login_p99_ms', ' ms', 1)} from connecting until in the room")
    if cfg.reconnect:
        out.append(f"  reconnect:        {num('resumes')} resumes in {num('resume_s', ' s', 3)}"
                   f" (server CPU {num('resume_cpu_s', ' s')}, load generator CPU"
                   f" {num('resume_bench_cpu_s', ' s')}),"
                   f" not restored {num('not_restored')}")
    out.append(f"  server RSS:       start {num('rss_kib_start', ' KiB')}, logged in"
               f" {num('rss_kib_logged_in', ' KiB')}, end {num('rss_kib_end', ' KiB')}")
    if "rss_kib_idle" in fig:
        out.append(f"  per connection:   {num('rss_kib_per_conn', ' KiB')} once idle"
                   f" ({num('rss_kib_idle', ' KiB')}); {num('rss_kib_per_conn_at_login', ' KiB')}"
                   " right after the login burst")
    else:
        out.append(f"  per connection:   {num('rss_kib_per_conn', ' KiB')} right after login")
    if fig.get("hash_rescued") is not None:
        out.append(f"  hash rescues:     {fig['hash_rescued']} checks run by the nice-10 rescue"
                   f" thread ({fig['hash_rerun']} of them also held by a starved worker)")
    if fig.get("server_writes"):
        out.append(f"  server writes:    {num('server_writes')} in {num('server_passes')} flush"
                   f" passes; {fig.get('deliveries', 0) / fig['server_writes']:.1f}"
                   " deliveries per write")
    out.append(f"  errors/kicked:    {num('errors')} / {num('kicked')}"
               + (f"  e.g. {fig['error_samples']}" if fig.get("error_samples") else ""))
    if cfg.scenario in TARGETS:
        out.append("  targets:")
        for target in TARGETS[cfg.scenario]:
            value = fig.get(target.figure)
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            label = described(target.label, vars(cfg))
            out.append(f"    {label:<48} {target.figure} = {shown:<10}"
                       f" {target.check(fig)}")
    return "\n".join(out)
