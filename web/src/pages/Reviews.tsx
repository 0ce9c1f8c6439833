import type { Review } from "../api/types.ts";
import { preloadUsers } from "../api/users.ts";
import { UserName } from "../ui/Names.tsx";
import { Empty, ErrorBox, Loading, Pager, date, useList } from "../ui/kit.tsx";

export function Reviews({ query }: { query: Record<string, string> }) {
  const list = useList<Review>("/api/reviews", { ...query, limit: 10 }, (rs) => preloadUsers(rs.map((r) => r.author_id)));
  if (!list.items) return <Loading what="Loading reviews" />;
  return (
    <div>
      <ErrorBox error={list.error} />
      {list.items.length === 0 ? (
        <Empty>No reviews yet.</Empty>
      ) : (
        <ul class="reviews">
          {list.items.map((r) => (
            <li key={r.id} class="card">
              <p class="meta">
                <span class="stars" aria-label={`${r.rating} out of 5`}>
                  {"★".repeat(r.rating)}
                  {"☆".repeat(5 - r.rating)}
                </span>{" "}
                <span>
                  <UserName id={r.author_id} />
                </span> · <time dateTime={r.created_at}>{date(r.created_at)}</time>
              </p>
              {r.comment && <p>{r.comment}</p>}
              {r.reply && (
                <p class="reply">
                  <strong>Reply:</strong> {r.reply}
                </p>
              )}
            </li>
          ))}
        </ul>
      )}
      <Pager next={list.next} onMore={list.more} busy={list.busy} />
    </div>
  );
}
