"""Buffered live plots: preallocated growing numpy buffers, redrawn from a QTimer.

Appending is O(1) amortised and never touches the scene; ``LivePlot`` redraws only curves that
changed, at most ``fps`` times a second, with clip-to-view and peak downsampling so 100k+ points stay
smooth. With a fixed x range and ``steady_y`` the axes keep their layout between redraws, so a redraw
repaints only the curves (about 0.2 ms instead of 2 ms).
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal

PALETTE = ("#3b82f6", "#f97316", "#10b981", "#a855f7", "#ef4444", "#eab308", "#06b6d4")
TRAIN_COLOUR, VALID_COLOUR, METRIC_COLOURS = "#3b82f6", "#f97316", ("#a855f7", "#be185d", "#0891b2", "#854d0e")


def legend_below(item: pg.PlotItem, columns: int = 4) -> pg.LegendItem:
    """The plot's legend in a row under the x axis, outside the curves' area, so it never covers a
    curve; curves added with ``name=`` join it (as with ``addLegend``)."""
    legend = pg.LegendItem(colCount=columns)
    item.layout.addItem(legend, 4, 1)
    item.layout.setAlignment(legend, Qt.AlignmentFlag.AlignHCenter)
    item.legend = legend
    return legend


class Buffer:
    """Growing (x, y) float buffer; doubles its capacity when full."""

    def __init__(self, capacity: int = 1024) -> None:
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self.n = 0
        self.lo, self.hi = np.inf, -np.inf  # y extent so far

    def append(self, x: float, y: float) -> None:
        if self.n == len(self._x):
            self._x = np.concatenate([self._x, np.empty_like(self._x)])
            self._y = np.concatenate([self._y, np.empty_like(self._y)])
        self._x[self.n] = x
        self._y[self.n] = y
        self.n += 1
        self.lo, self.hi = min(self.lo, y), max(self.hi, y)

    def clear(self) -> None:
        self.n = 0
        self.lo, self.hi = np.inf, -np.inf

    @property
    def x(self) -> np.ndarray:
        return self._x[: self.n]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self.n]

    def __len__(self) -> int:
        return self.n


class LivePlot(pg.PlotWidget):
    """A plot of named buffered curves; ``append(name, x, y)`` then the timer redraws."""

    redrawn = Signal()

    def __init__(self, title: str = "", x_label: str = "", y_label: str = "", log_y: bool = False,
                 fps: int = 10, antialias: bool = True, grid: bool = True, steady_y: bool = False,
                 legend_bottom: bool = False, parent=None) -> None:
        super().__init__(parent=parent)
        self.antialias = antialias
        self.setBackground(None)
        item = self.getPlotItem()
        if title:
            item.setTitle(title)
        if x_label:
            item.setLabel("bottom", x_label)
        if y_label:
            item.setLabel("left", y_label)
        if grid:  # the grid doubles the paint time of a plot
            item.showGrid(x=True, y=True, alpha=0.15)
        item.setLogMode(y=log_y)
        # steady_y: the y range follows the data in steps (see _steady_y) instead of on every redraw;
        # auto-ranging re-lays out the axis each time, ten times the cost of drawing the curves
        self.steady_y, self.log_y = steady_y, log_y
        self._y_range: tuple[float, float] | None = None
        self._y_by_user = False  # the user zoomed or panned: leave the range alone until clear_data
        if steady_y:
            item.enableAutoRange(y=False)
            item.getViewBox().sigRangeChangedManually.connect(self._user_range)
        self.legend = legend_below(item)  # under the axis: never over a curve (legend_bottom: kept for callers)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.buffers: dict[str, Buffer] = {}
        self._dirty: set[str] = set()
        self.timer = QTimer(self)  # fps 0: the owner calls redraw() on its own schedule
        self.timer.setInterval(max(10, 1000 // max(1, fps)))
        self.timer.timeout.connect(self.redraw)
        if fps > 0:
            self.timer.start()

    def add_curve(self, name: str, color: str | None = None, symbol: str | None = None,
                  width: float = 2.0) -> None:
        color = color or PALETTE[len(self.curves) % len(PALETTE)]
        curve = self.plot([], [], name=name, pen=pg.mkPen(color, width=width),
                          symbol=symbol, symbolBrush=color if symbol else None, symbolSize=6,
                          symbolPen=None, antialias=self.antialias)
        curve.setClipToView(True)
        curve.setDownsampling(auto=True, method="peak")
        self.curves[name] = curve
        self.buffers[name] = Buffer()

    def append(self, name: str, x: float, y: float) -> None:
        if name not in self.curves:
            self.add_curve(name)
        if y is None or not np.isfinite(y):
            return
        self.buffers[name].append(float(x), float(y))
        self._dirty.add(name)

    def clear_data(self) -> None:
        for name, buf in self.buffers.items():
            buf.clear()
            self._dirty.add(name)
        if self.steady_y:
            self._y_by_user = False
            self.getPlotItem().enableAutoRange(y=False)
        self.redraw()

    def _user_range(self, mask) -> None:
        self._y_by_user = True

    def redraw(self) -> None:
        if not self._dirty:
            return
        for name in self._dirty:
            buf = self.buffers[name]
            self.curves[name].setData(buf.x, buf.y)
        self._dirty.clear()
        if self.steady_y:
            self._steady_y()
        self.redrawn.emit()

    def _steady_y(self) -> None:
        """Keep the y range while the data stays off its edges (3 % margin) and fills at least a
        third of it; otherwise set it to the data's extent with 10 % headroom on each side."""
        lo = min((b.lo for b in self.buffers.values() if len(b)), default=None)
        hi = max((b.hi for b in self.buffers.values() if len(b)), default=None)
        if lo is None or self._y_by_user:
            self._y_range = None
            return
        if self.log_y:  # the axis works in log10 units
            lo, hi = np.log10(max(lo, 1e-30)), np.log10(max(hi, 1e-30))
        if self._y_range is not None:
            cur_lo, cur_hi = self._y_range
            margin = 0.03 * (cur_hi - cur_lo)
            if cur_lo + margin <= lo and hi <= cur_hi - margin and hi - lo >= (cur_hi - cur_lo) / 3:
                return
        pad = 0.1 * max(hi - lo, 0.05 * abs(hi), 1e-9)
        self._y_range = (lo - pad, hi + pad)
        self.getPlotItem().setYRange(*self._y_range, padding=0)

    def set_x_range(self, lo: float, hi: float) -> None:
        """Fix the x axis (e.g. to the epochs of a run): appending points then no longer re-lays out
        the axis, which is most of a redraw's cost; the y axis keeps following the data."""
        item = self.getPlotItem()
        item.enableAutoRange(x=False)
        item.setXRange(lo, hi, padding=0.02)

    def auto_x_range(self) -> None:
        self.getPlotItem().enableAutoRange(x=True)

    def reset_view(self, drop_curves: bool = False) -> None:
        """Empty, with both axes back at 0..1 and ranging on the next content: nothing of the previous
        content stays (its ranges, a zoom; with ``drop_curves`` its curves and legend rows too)."""
        if drop_curves:
            for curve in self.curves.values():
                self.removeItem(curve)   # and its legend row
            self.curves.clear()
            self.buffers.clear()
            self._dirty.clear()
        self.clear_data()
        item = self.getPlotItem()
        item.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        item.enableAutoRange(x=True, y=not self.steady_y)
        self._y_range = None

    def points(self, name: str) -> int:
        return len(self.buffers[name]) if name in self.buffers else 0


def span(values, pad: float = 0.05) -> tuple[float, float]:
    """(lo, hi) of the finite values with ``pad`` of their extent on each side (0..1 when none)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return 0.0, 1.0
    lo, hi = float(v.min()), float(v.max())
    d = hi - lo if hi > lo else max(0.1 * abs(hi), 1e-3)
    return lo - pad * d, hi + pad * d


def fit_ranges(item: pg.PlotItem, other: pg.ViewBox | None, x, y, y2=()) -> None:
    """Set a plot's axes to its content, and ``other`` (the ViewBox of a right-hand axis that shares x)
    to ``y2``. Explicit ranges, not auto-range: auto-range stops for good once the chart is zoomed or
    panned (a turn of the mouse wheel over it while scrolling the page), so the next content, another
    dataset's recipe, was drawn in the previous one's ranges; and a hidden page's chart ranges only
    when it is painted."""
    xr = span(x, 0.02)
    item.setRange(xRange=xr, yRange=span(y), padding=0)
    if other is not None:
        other.setRange(xRange=xr, yRange=span(y2), padding=0)


def append_epoch(loss_plot: LivePlot, metric_plot: LivePlot, epoch: int, valid_loss: float, metrics: dict) -> None:
    """One finished epoch (0-based) on the live plots: its valid loss and metrics at x = epoch + 1."""
    loss_plot.append("valid", epoch + 1, valid_loss)
    for k, v in sorted(metrics.items()):
        if k not in metric_plot.curves:   # train / valid: one colour on every page; metrics: never those
            metric_plot.add_curve(k, METRIC_COLOURS[len(metric_plot.curves) % len(METRIC_COLOURS)], symbol="o")
        metric_plot.append(k, epoch + 1, v)


def append_history(loss_plot: LivePlot, metric_plot: LivePlot, lr_plot: LivePlot, rows, batches=()) -> None:
    """The epochs a resumed run did before, on the live plots as a fresh run draws them: the batch curve
    (``batches``: FitStarted.batches, (x, smoothed loss, lr) from last.pt) for the train loss and lr, and
    per epoch the valid loss and every metric of the history rows (top-5 too). A checkpoint without a
    batch curve gives one train loss and lr point per epoch."""
    skip = {"epoch", "train_loss", "valid_loss", "lr", "seconds", "images_per_sec"}
    for x, loss, lr in batches:
        loss_plot.append("train (smoothed)", x, loss)
        lr_plot.append("lr", x, lr)
    for r in sorted(rows, key=lambda r: int(r.get("epoch", 0))):
        e = int(r.get("epoch", 0))
        if r.get("train_loss") is not None and not batches:
            loss_plot.append("train (smoothed)", e + 1, float(r["train_loss"]))
        if r.get("lr") is not None and not batches:
            lr_plot.append("lr", e + 1, float(r["lr"]))
        append_epoch(loss_plot, metric_plot, e, float(r.get("valid_loss", float("nan"))),
                     {k: float(v) for k, v in r.items() if k not in skip and v is not None})


def class_ticks(classes, max_labels: int = 40) -> list[tuple[float, str]]:
    """y-axis labels of the counts chart (row i from the top is class i); with very many classes only
    every k-th is named (the bar's tooltip-free chart stays readable; the class list names them all)."""
    n = len(classes)
    step = max(1, -(-n // max_labels))
    return [(float(n - 1 - i), c if len(c) <= 24 else c[:23] + "…") for i, c in enumerate(classes) if i % step == 0]


def size_bars(short: np.ndarray, bins: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """Histogram bars of image sizes in whole pixels: one bar per size when there are few distinct
    sizes (a folder of 160 px images shows one bar at 160 on an axis of whole pixels, not
    159.6 .. 160.4), else ``bins`` bins. Returns (x0, x1, counts, (x_lo, x_hi))."""
    short = np.asarray(short, dtype=float)
    values, counts = np.unique(np.round(short), return_counts=True)
    lo, hi = float(values.min()), float(values.max())
    if len(values) <= bins:
        half = max(0.5, (hi - lo) / 80)
        x0, x1 = values - half, values + half
    else:
        counts, edges = np.histogram(short, bins=bins)
        x0, x1 = edges[:-1], edges[1:]
    pad = max(5.0, 0.05 * (hi - lo))
    return x0, x1, counts, (lo - pad, hi + pad)


def size_arrays(stats) -> tuple[np.ndarray, np.ndarray]:
    """(widths, heights) from a DatasetStats (empty arrays when the stats have none)."""
    for w_name, h_name in (("widths", "heights"), ("width", "height")):
        w, h = getattr(stats, w_name, None), getattr(stats, h_name, None)
        if w is not None and h is not None:
            return np.asarray(w, dtype=float), np.asarray(h, dtype=float)
    return np.zeros(0), np.zeros(0)


class CountAxis(pg.AxisItem):
    """An axis of image counts: ticks only at whole numbers (never "0.5 images")."""

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802 - pyqtgraph's name
        levels = [(float(max(1, round(sp))), off) for sp, off in super().tickSpacing(minVal, maxVal, size) if sp >= 1]
        return levels or [(1.0, 0.0)]


def draw_counts(p, ds) -> None:
    """Horizontal bars, one row per class (first class on top): the names sit on the y axis, one per
    row, so they never overlap however many classes or however long their names."""
    p.clear()
    n = len(ds.classes)
    y = np.arange(n, dtype=float)[::-1]
    train = np.array([ds.counts("train").get(c, 0) for c in ds.classes], dtype=float)
    valid = np.array([ds.counts("valid").get(c, 0) for c in ds.classes], dtype=float)
    p.addItem(pg.BarGraphItem(x0=0, y=y, width=train, height=0.7, brush="#3b82f6", name="train"))
    p.addItem(pg.BarGraphItem(x0=train, y=y, width=valid, height=0.7, brush="#f97316", name="valid"))
    p.getAxis("left").setTicks([class_ticks(ds.classes)])
    p.getAxis("bottom").setTicks(None)
    p.setLabel("bottom", "images")
    p.setLabel("left", "")
    p.setXRange(0, float((train + valid).max() if n else 1) * 1.1, padding=0)
    p.setYRange(-0.6, n - 0.4, padding=0)
