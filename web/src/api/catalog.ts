import { api, type Page } from "./http.ts";
import { byIdCache } from "./byId.ts";
import type { Category, Service } from "./types.ts";

let categories: Promise<Category[]> | null = null;

/** Every category, sorted by name (the list is small and public). */
export function getCategories(): Promise<Category[]> {
  if (!categories) {
    categories = (async () => {
      const all: Category[] = [];
      let cursor: string | null = null;
      for (let i = 0; i < 10; i++) {
        const page: Page<Category> = await api<Page<Category>>("/api/categories", { query: { limit: 100, cursor } });
        all.push(...page.results);
        cursor = page.next_cursor;
        if (!cursor) break;
      }
      return all;
    })();
    categories.catch(() => (categories = null));
  }
  return categories;
}

/** "Parent › Child" labels for a select. */
export function categoryOptions(list: Category[]): [string, string][] {
  const byId = new Map(list.map((c) => [c.id, c]));
  const name = (c: Category): string => (c.parent_id && byId.get(c.parent_id) ? `${name(byId.get(c.parent_id)!)} › ${c.name}` : c.name);
  return list.map((c) => [c.id, name(c)] as [string, string]).sort((a, b) => a[1].localeCompare(b[1]));
}

/** Services by id (bookings name theirs). */
export const services = byIdCache<Service>((id) => `/api/services/${id}`);
