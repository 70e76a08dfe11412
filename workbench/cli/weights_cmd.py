"""``workbench weights list|get|import``: the pretrained-weights store from the command line.

``list`` never touches the network; ``get`` is the only command that downloads (with a progress bar;
Ctrl-C cancels and leaves no partial file); ``import`` checks a file fetched elsewhere and stores it
in the cache in a format the store reads back (``--allow-partial`` keeps a file that fits only
partly). Exit code 2 with one sentence for anything unusable.
"""
from __future__ import annotations

import argparse
import sys

from ..runtime.control import Cancelled
from .common import TerminalProgress, UsageError, signals_interrupt


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n else "size unknown"


def _refs(archs: list[str], everything: bool) -> list[tuple[str, str]]:
    from ..models.sources import sources
    from ..models.weights import named_tags
    if not archs:  # what each model source lists (weights on this machine first), those with weights
        archs = [a for src in sources() for a in src.listed(everything)]
        archs = [a for a in dict.fromkeys(archs) if ":" in a or named_tags(a)]
    out = []
    for a in archs:
        arch, _, tag = a.partition(":")
        names = [tag] if tag else named_tags(arch)
        if not names and not tag:
            raise UsageError(f"{arch} has no pretrained weights" if not spec_problem(arch) else spec_problem(arch))
        out += [(arch, t) for t in names]
    return list(dict.fromkeys(out))


def spec_problem(arch: str) -> str:
    from ..models.weights import DEFAULT_TAG, WeightsError, spec
    try:
        spec(arch, DEFAULT_TAG)
    except WeightsError as e:
        return str(e)
    return ""


def _values(v: tuple) -> str:
    return ", ".join(f"{x:g}" for x in v)


def cmd_list(args: argparse.Namespace) -> int:
    from ..models.weights import ON_DISK, WeightsError, status
    try:
        refs = _refs(args.archs, args.all)
        rows = [status(a, t) for a, t in refs]
    except WeightsError as e:
        raise UsageError(str(e)) from e
    rows = [r for r in rows if r.state == "bundled"] + [r for r in rows if r.state != "bundled"]
    rows = list({r.spec.key: r for r in rows}.values())  # a DEFAULT given beside its alias: listed once
    for r in rows:
        where = str(r.path) if r.path else r.spec.url
        print(f"{r.spec.key:<48} {r.state:<12} {_mb(r.size_bytes):>12}  {where}")
        if r.state == "bundled":
            print(f"    from the package {r.origin or '?'}: {r.spec.input_size} px, mean "
                  f"{_values(r.spec.mean)}, std {_values(r.spec.std)}, {r.spec.interpolation} resize")
        if r.problem:
            print(f"    {r.problem}")
    on_disk = [r for r in rows if r.state in ON_DISK]
    n_bundled = sum(r.state == "bundled" for r in rows)
    print(f"{len(on_disk)} of {len(rows)} on this machine ({n_bundled} bundled with the install); "
          "`workbench weights get ARCH[:TAG]` downloads one (nothing else here uses the network)", file=sys.stderr)
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    from ..models.weights import parse_ref
    arch, tag = parse_ref(args.ref)
    return download_weights(arch, tag)


def download_weights(arch: str, tag: str) -> int:
    """Fetch ``arch:tag`` with a terminal progress bar; UsageError on failure, 130 when cancelled."""
    from ..models.weights import WeightsError, fetch, status
    bar = TerminalProgress()
    try:
        st = status(arch, tag)
        if st.state in ("cached", "bundled"):
            print(f"{st.spec.key}: already on this machine ({st.state}) at {st.path}")
            return 0
        print(f"downloading {st.spec.key} ({_mb(st.spec.size_bytes)}) from {st.spec.url}", file=sys.stderr)

        def progress(p) -> None:
            bar.progress("download", p.done // 1024, max(p.total, p.done) // 1024 or 1,
                         f"{p.done / 1e6:.1f} MB {p.rate / 1e6:.1f} MB/s")
        with signals_interrupt():
            path = fetch(arch, tag, progress=progress)
    except (Cancelled, KeyboardInterrupt):
        print("download cancelled; nothing was saved", file=sys.stderr)
        return 130
    except WeightsError as e:
        raise UsageError(str(e)) from e
    print(f"{arch}:{st.spec.tag}: saved to {path}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from ..models.weights import DEFAULT_TAG, WeightsError, bundled_source, import_weights, parse_ref
    arch, tag = parse_ref(args.ref) if args.ref else ("", DEFAULT_TAG)
    try:
        done = import_weights(args.file, arch, tag, allow_partial=args.allow_partial)
    except WeightsError as e:
        raise UsageError(str(e)) from e
    how = "converted and stored" if done.converted else "copied"
    layout = f" (renamed from the {done.fit.layout} layout)" if done.fit.layout else ""
    print(f"imported {args.file}: {how} as {done.path}{layout}")
    if arch and bundled_source(arch, tag) is not None:
        print(f"note: {arch} weights are also bundled with the install; model.pretrained uses the bundled copy "
              f"first (model.weights = {done.path} uses this one)", file=sys.stderr)
    if done.fit.left_random:
        print(f"warning: {len(done.fit.left_random)} of {done.fit.n_body} body tensors do not fit and stay random: "
              f"{done.fit.names()}; training from it needs model.allow_partial_weights = true", file=sys.stderr)
    return 0


def _sources_text() -> str:
    from ..models.sources import sources  # torch-free: `workbench weights --help` stays fast
    return "; ".join(f"{s.name}: {s.label}" for s in sources())


def add_parser(sub) -> None:
    p = sub.add_parser("weights", help="list, download or import pretrained weights",
                       description="The pretrained-weights store. Model sources, asked in this order: "
                                   f"{_sources_text()}.")
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    lp = wsub.add_parser("list", help="what is cached and what can be downloaded, with sizes (no network)")
    lp.add_argument("archs", nargs="*", metavar="ARCH[:TAG]", help="only these (default: what each model source "
                    "lists: weights on this machine, all torchvision models with weights and a few timm ones)")
    lp.add_argument("--all", action="store_true", help="everything each source has (every timm model with "
                    "pretrained weights too)")
    lp.set_defaults(func=cmd_list)
    gp = wsub.add_parser("get", help="download weights into the cache (the only command that downloads)")
    gp.add_argument("ref", metavar="ARCH[:TAG]", help="e.g. resnet18, resnet50:IMAGENET1K_V2, timm/convnext_nano")
    gp.set_defaults(func=cmd_get)
    ip = wsub.add_parser("import", help="check a weights file fetched elsewhere and copy it into the cache")
    ip.add_argument("file", metavar="FILE")
    ip.add_argument("ref", nargs="?", metavar="ARCH[:TAG]",
                    help="which model it belongs to (default: guessed from a torchvision file name)")
    ip.add_argument("--allow-partial", action="store_true",
                    help="keep a file of which only some body tensors fit (the others stay random); without it "
                         "such a file is refused with the names of what does not fit")
    ip.set_defaults(func=cmd_import)
