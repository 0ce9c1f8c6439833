import { useState } from "preact/hooks";
import { useStore } from "../store.ts";
import { session } from "../api/session.ts";
import { api, type Page } from "../api/http.ts";
import type { Review } from "../api/types.ts";
import { preloadUsers } from "../api/users.ts";
import { UserName } from "../ui/Names.tsx";
import { Empty, ErrorBox, Loading, Pager, TextArea, date, useList, useLoad, useSubmit } from "../ui/kit.tsx";

export function Reviews({ query }: { query: Record<string, string> }) {
  const s = useStore(session);
  const me = s.status === "signed-in" ? s.user.id : "";
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
              {r.reply ? (
                <p class="reply">
                  <strong>Reply:</strong> {r.reply}
                </p>
              ) : (
                r.reviewee_id === me && <ReplyForm review={r} onReplied={(x) => list.setItems((items) => items?.map((y) => (y.id === x.id ? x : y)))} />
              )}
            </li>
          ))}
        </ul>
      )}
      <Pager next={list.next} onMore={list.more} busy={list.busy} />
    </div>
  );
}

type Engagement = { contract_id: string } | { booking_id: string };

function ofEngagement(r: Review, e: Engagement): boolean {
  return "contract_id" in e ? r.contract_id === e.contract_id : r.booking_id === e.booking_id;
}

/** Every review of the list at `query` that belongs to the engagement (at most 10 pages of 100). */
async function findReviews(query: Record<string, string>, e: Engagement, signal: AbortSignal): Promise<Review[]> {
  const out: Review[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 10; i++) {
    const page: Page<Review> = await api<Page<Review>>("/api/reviews", { query: { ...query, limit: 100, cursor }, signal });
    out.push(...page.results.filter((r) => ofEngagement(r, e)));
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return out;
}

function StarInput({ value, onValue, name }: { value: number; onValue: (n: number) => void; name: string }) {
  return (
    <fieldset class="stars-input">
      <legend>Rating</legend>
      {[1, 2, 3, 4, 5].map((n) => (
        <label key={n}>
          <input type="radio" name={name} value={n} checked={value === n} onChange={() => onValue(n)} />
          {n} {n === 1 ? "star" : "stars"}
        </label>
      ))}
    </fieldset>
  );
}

function StarsShown({ rating }: { rating: number }) {
  return (
    <span class="stars" aria-label={`${rating} out of 5`}>
      {"★".repeat(rating)}
      {"☆".repeat(5 - rating)}
    </span>
  );
}

/** The review step of a completed contract or booking: write, edit or delete one's own
 * review; read the other side's review of oneself and reply to it. */
export function EngagementReviews({ engagement, me, completed }: { engagement: Engagement; me: string; completed: boolean }) {
  const [data, error, reload] = useLoad(
    async (signal) => {
      const [mine, ofMe] = await Promise.all([findReviews({ author_id: me }, engagement, signal), findReviews({ reviewee_id: me }, engagement, signal)]);
      return { mine: mine[0] ?? null, ofMe };
    },
    [JSON.stringify(engagement), me],
  );
  if (!completed && !data?.mine && !data?.ofMe.length) return null;
  return (
    <div class="card" data-testid="reviews-card">
      <h2>Reviews</h2>
      <ErrorBox error={error} />
      {!data ? (
        <Loading what="Loading reviews" />
      ) : (
        <>
          <MyReview engagement={engagement} review={data.mine} onChanged={reload} completed={completed} />
          {data.ofMe.map((r) => (
            <ReviewOfMe key={r.id} review={r} onChanged={reload} />
          ))}
        </>
      )}
    </div>
  );
}

function MyReview({ engagement, review, onChanged, completed }: { engagement: Engagement; review: Review | null; onChanged: () => void; completed: boolean }) {
  const [editing, setEditing] = useState(false);
  const [rating, setRating] = useState(review?.rating ?? 0);
  const [comment, setComment] = useState(review?.comment ?? "");
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [submit, busy, error] = useSubmit(async () => {
    const body = { rating: rating || undefined, comment: comment.trim() || undefined };
    if (review) await api<Review>(`/api/reviews/${review.id}`, { method: "PATCH", body: { ...body, comment: comment.trim() } });
    else await api<Review>("/api/reviews", { method: "POST", body: { ...engagement, ...body } });
    setEditing(false);
    onChanged();
  });
  const [remove, removing, removeError] = useSubmit(async () => {
    if (!review) return;
    await api(`/api/reviews/${review.id}`, { method: "DELETE" });
    setConfirmDelete(false);
    setRating(0);
    setComment("");
    onChanged();
  });
  if (review && !editing) {
    return (
      <div class="review mine" data-testid="my-review">
        <h3>Your review</h3>
        <p class="meta">
          <StarsShown rating={review.rating} /> · <time dateTime={review.updated_at}>{date(review.updated_at)}</time>
        </p>
        {review.comment && <p class="pre">{review.comment}</p>}
        {review.reply && (
          <p class="reply">
            <strong>Reply:</strong> {review.reply}
          </p>
        )}
        <ErrorBox error={removeError} />
        {confirmDelete ? (
          <div class="actions">
            <span>Delete your review?</span>
            <button type="button" class="danger" disabled={removing} onClick={() => remove()}>
              {removing ? "Deleting…" : "Confirm: delete review"}
            </button>
            <button type="button" class="secondary" onClick={() => setConfirmDelete(false)}>
              Back
            </button>
          </div>
        ) : (
          <div class="actions">
            <button
              type="button"
              class="secondary"
              onClick={() => {
                setRating(review.rating);
                setComment(review.comment ?? "");
                setEditing(true);
              }}
            >
              Edit review
            </button>
            <button type="button" class="secondary danger" onClick={() => setConfirmDelete(true)}>
              Delete review
            </button>
          </div>
        )}
      </div>
    );
  }
  if (!review && !completed) return null;
  return (
    <form class="form" onSubmit={submit} noValidate aria-label={review ? "Edit your review" : "Write a review"}>
      <h3>{review ? "Edit your review" : "Write a review"}</h3>
      <ErrorBox error={error} />
      <StarInput value={rating} onValue={setRating} name="rating" />
      <TextArea label="Your review" name="comment" rows={3} value={comment} onValue={setComment} error={error} maxLength={2000} />
      <div class="actions">
        <button type="submit" disabled={busy}>
          {busy ? "Saving…" : review ? "Save review" : "Post review"}
        </button>
        {review && (
          <button type="button" class="secondary" onClick={() => setEditing(false)}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

/** The reviewee's one reply to a review. */
function ReplyForm({ review, onReplied }: { review: Review; onReplied: (r: Review) => void }) {
  const [reply, setReply] = useState("");
  const [submit, busy, error] = useSubmit(async () => {
    const r = await api<Review>(`/api/reviews/${review.id}/reply`, { method: "POST", body: { reply: reply.trim() } });
    setReply("");
    onReplied(r);
  });
  return (
    <form class="form" onSubmit={submit} noValidate aria-label="Reply to the review">
      <ErrorBox error={error} />
      <TextArea label="Your reply" name={`reply-${review.id}`} rows={2} value={reply} onValue={setReply} error={error} maxLength={2000} />
      <button type="submit" disabled={busy}>
        {busy ? "Sending…" : "Post reply"}
      </button>
    </form>
  );
}

function ReviewOfMe({ review, onChanged }: { review: Review; onChanged: () => void }) {
  return (
    <div class="review" data-testid="review-of-me">
      <h3>
        <UserName id={review.author_id} />
        's review of you
      </h3>
      <p class="meta">
        <StarsShown rating={review.rating} /> · <time dateTime={review.created_at}>{date(review.created_at)}</time>
      </p>
      {review.comment && <p class="pre">{review.comment}</p>}
      {review.reply ? (
        <p class="reply">
          <strong>Your reply:</strong> {review.reply}
        </p>
      ) : (
        <ReplyForm review={review} onReplied={onChanged} />
      )}
    </div>
  );
}
