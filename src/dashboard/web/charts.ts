import type UPlot from 'uplot';

/** uPlot is loaded by a classic <script> (vendor/uPlot.iife.min.js) and defines a global. */
declare global {
  interface Window {
    uPlot: typeof UPlot;
  }
}

const HEIGHT = 220;

function widthOf(el: HTMLElement): number {
  return Math.max(300, el.clientWidth);
}

/** A time-series line chart that follows its container's width. */
export class TimeChart {
  private readonly plot: UPlot;
  private readonly el: HTMLElement;
  private newestX = Math.floor(Date.now() / 1000);

  /** `windowSeconds`: always show that many seconds up to the newest point (a live chart with few points yet). */
  constructor(el: HTMLElement, series: Array<{ label: string; stroke: string; fill?: string }>, yLabel: string, windowSeconds?: number) {
    this.el = el;
    const opts: UPlot.Options = {
      width: widthOf(el),
      height: HEIGHT,
      scales: {
        // From our own newest x: uPlot pads a single point's range by years.
        x: windowSeconds ? { time: true, range: () => [this.newestX - windowSeconds, this.newestX] } : { time: true },
        y: { range: (_u, min, max) => [0, Math.max(1, max, min)] },
      },
      axes: [{}, { label: yLabel, size: 60 }],
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, fill: s.fill, width: 2, points: { show: false } }))],
      legend: { live: false },
    };
    this.plot = new window.uPlot(opts, [[], ...series.map(() => [])], el);
    window.addEventListener('resize', () => this.plot.setSize({ width: widthOf(this.el), height: HEIGHT }));
  }

  /** x in Unix seconds; one array per series, same length as x. */
  set(x: number[], ys: Array<Array<number | null>>): void {
    if (x.length > 0) this.newestX = x[x.length - 1];
    this.plot.setData([x, ...ys] as UPlot.AlignedData);
  }
}
