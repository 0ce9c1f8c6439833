// A chart (uPlot, loaded on first use) with a text alternative: a one-line summary for
// screen readers and a table of the same figures. The box has a fixed height, so drawing it
// moves nothing on the page.
import { useEffect, useRef, useState } from "preact/hooks";
import type { ChartSpec } from "./chart-impl.ts";

export type { ChartSpec };

export function Chart({ title, spec, labels, summary, id }: { title: string; spec: ChartSpec; labels: string[]; summary: string; id: string }) {
  const box = useRef<HTMLDivElement>(null);
  const [failed, setFailed] = useState<string | null>(null);
  const key = JSON.stringify(spec);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    let chart: { resize(w: number): void; destroy(): void } | null = null;
    let gone = false;
    let ro: ResizeObserver | null = null;
    import("./chart-impl.ts").then(
      (m) => {
        if (gone) return;
        el.replaceChildren();
        chart = m.draw(el, spec, el.clientWidth, 220);
        el.dataset.drawn = "true";
        ro = new ResizeObserver(() => chart?.resize(el.clientWidth));
        ro.observe(el);
      },
      () => setFailed("The chart could not be loaded. The figures are in the table below."),
    );
    return () => {
      gone = true;
      ro?.disconnect();
      chart?.destroy();
    };
  }, [key]);
  const fmt = spec.format ?? ((v: number) => String(v));
  return (
    <figure class="chart card" aria-labelledby={`${id}-t`}>
      <figcaption id={`${id}-t`}>
        <h3>{title}</h3>
        <p class="muted small">{summary}</p>
      </figcaption>
      <ul class="legend" aria-hidden="true">
        {spec.series.map((s) => (
          <li key={s.label}>
            <span
              class="swatch"
              ref={(e) => {
                if (e) e.style.background = s.color;
              }}
            />
            {s.label}
          </li>
        ))}
      </ul>
      {failed && <p class="field-error">{failed}</p>}
      <div class="chart-box" ref={box} role="img" aria-label={`${title}: ${summary}`} data-testid={`chart-${id}`} />
      <details>
        <summary>Show the figures as a table</summary>
        <div class="table-wrap" tabIndex={0} role="region" aria-label={`${title}: the figures`}>
          <table class="table">
            <caption class="sr-only">{title}</caption>
            <thead>
              <tr>
                <th scope="col">{spec.monthly ? "Month" : "Day"}</th>
                {spec.series.map((s) => (
                  <th scope="col" class="num" key={s.label}>
                    {s.label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {labels.map((l, i) => (
                <tr key={l}>
                  <th scope="row">{l}</th>
                  {spec.series.map((s) => (
                    <td class="num" key={s.label}>
                      {fmt(s.values[i] ?? 0)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
