"""The Model picker's words for a set of weights (pure functions, no widgets): a row's weights state
and the status line of the chosen weights (``workbench.models.weights.status``, read off the GUI
thread by the picker)."""
from __future__ import annotations


def state_text(state: str, size: int) -> str:
    if state == "downloadable":
        return f"download {size / 1e6:.0f} MB" if size else "download"
    return {"bundled": "on disk (bundled)", "cached": "on disk (cached)", "corrupt": "damaged file",
            "none": "none"}.get(state, state)


def _values(v: tuple) -> str:
    return ", ".join(f"{x:g}" for x in v)


def status_text(st) -> str:
    """The status line of a WeightsStatus: where the file is, or how to get it."""
    return {"bundled": f"{st.spec.key}: bundled with the install ({st.origin or 'a package'}), "
                       f"{st.size_bytes / 1e6:.0f} MB on disk; trained at {st.spec.input_size} px, "
                       f"mean {_values(st.spec.mean)}, std {_values(st.spec.std)}",
            "cached": f"{st.spec.key}: cached at {st.path} ({st.size_bytes / 1e6:.0f} MB)",
            "corrupt": st.problem,
            "downloadable": f"{st.spec.key}: not on this machine; {state_text(st.state, st.size_bytes)} "
                            f"from {st.spec.url}, or import the file {st.spec.filename}"}[st.state]
