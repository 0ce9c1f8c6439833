import { useEffect, useState } from "preact/hooks";
import { getCategories, categoryOptions } from "../api/catalog.ts";
import { setQuery } from "../router.ts";

export function useCategoryOptions(): [string, string][] {
  const [opts, setOpts] = useState<[string, string][]>([]);
  useEffect(() => {
    getCategories().then((c) => setOpts(categoryOptions(c)), () => {});
  }, []);
  return opts;
}

/** A search form whose fields are the URL's query parameters; submitting replaces them. */
export function FilterForm({ values, children, label }: { values: Record<string, string>; children: (v: Record<string, string>, set: (k: string, val: string) => void) => preact.ComponentChildren; label: string }) {
  const [v, setV] = useState(values);
  useEffect(() => setV(values), [JSON.stringify(values)]);
  return (
    <form
      class="filters card"
      role="search"
      aria-label={label}
      onSubmit={(e) => {
        e.preventDefault();
        setQuery(v);
      }}
    >
      {children(v, (k, val) => setV({ ...v, [k]: val }))}
      <div class="filter-actions">
        <button type="submit">Search</button>
        <button
          type="button"
          class="secondary"
          onClick={() => {
            setV({});
            setQuery({});
          }}
        >
          Clear
        </button>
      </div>
    </form>
  );
}
