import { useState } from "preact/hooks";
import { AgoraError, api } from "../api/http.ts";
import { session } from "../api/session.ts";
import { useStore } from "../store.ts";
import { navigate } from "../router.ts";
import type { Provider, Service } from "../api/types.ts";
import { Empty, ErrorBox, Field, Loading, Select, TextArea, useLoad, useSubmit, useTitle } from "../ui/kit.tsx";
import { useCategoryOptions } from "../ui/Filters.tsx";
import { WorkingHours } from "./Availability.tsx";
import type { Availability } from "../api/types.ts";
import { GalleryEditors } from "../ui/Gallery.tsx";

/** The caller's provider profile (`GET /api/providers/me`), or null when there is none yet (404). */
async function findMine(signal: AbortSignal): Promise<Provider | null> {
  try {
    return await api<Provider>("/api/providers/me", { signal });
  } catch (e) {
    if (e instanceof AgoraError && e.status === 404) return null;
    throw e;
  }
}

function toMinor(v: string): number | null {
  const n = Number(v.replace(",", "."));
  return v.trim() && Number.isFinite(n) ? Math.round(n * 100) : null;
}

export function ProfilePage() {
  useTitle("Provider profile");
  const s = useStore(session);
  const me = s.status === "signed-in" ? s.user : null;
  const [found, error, reload] = useLoad(async (signal) => {
    const p = me ? await findMine(signal) : null;
    const hours = p ? await api<Availability>(`/api/providers/${p.id}/availability`, { signal }) : null;
    return { p, hours };
  }, [me?.id]);
  const mine = found === undefined ? undefined : found.p;
  if (!me) return null;
  if (me.role !== "provider" && me.role !== "worker") {
    return (
      <section class="page narrow">
        <h1>Provider profile</h1>
        <Empty>Only providers and workers have a provider profile.</Empty>
      </section>
    );
  }
  if (error) return <section class="page narrow"><ErrorBox error={error} /></section>;
  if (mine === undefined) return <section class="page narrow" key="loading"><Loading /></section>;
  return (
    <section class="page narrow">
      <h1>Provider profile</h1>
      {mine && (
        <p>
          <a href={`/providers/${mine.id}`}>See your public profile</a>
        </p>
      )}
      <ProfileForm profile={mine} onSaved={reload} />
      {mine && found?.hours && <WorkingHours providerId={mine.id} initial={found.hours} />}
      {mine && me.role === "provider" && <GalleryEditors providerId={mine.id} />}
      {mine && me.role === "provider" && <ServiceForm />}
    </section>
  );
}

function ProfileForm({ profile, onSaved }: { profile: Provider | null; onSaved: () => void }) {
  const [f, setF] = useState({
    bio: profile?.bio ?? "",
    rate: profile ? String(profile.hourly_rate.amount / 100) : "",
    city: profile?.city ?? "",
    country: profile?.country ?? "",
    availability: profile?.availability ?? "available",
  });
  const [saved, setSaved] = useState(false);
  const set = (k: keyof typeof f) => (v: string) => setF({ ...f, [k]: v });
  const [submit, busy, error] = useSubmit(async () => {
    setSaved(false);
    const amount = toMinor(f.rate);
    const body = {
      bio: f.bio.trim(),
      ...(amount !== null ? { hourly_rate: { amount, currency: "USD" } } : {}),
      city: f.city.trim() || undefined,
      country: f.country.trim() || undefined,
      availability: f.availability,
    };
    if (profile) await api(`/api/providers/${profile.id}`, { method: "PATCH", body });
    else await api("/api/providers", { method: "POST", body });
    setSaved(true);
    onSaved();
  });
  return (
    <form class="card form" onSubmit={submit} noValidate aria-labelledby="profile-h">
      <h2 id="profile-h">{profile ? "Your profile" : "Create your profile"}</h2>
      <ErrorBox error={error} />
      <TextArea label="About you" name="bio" rows={5} required value={f.bio} onValue={set("bio")} error={error} />
      <Field label="Hourly rate ($)" name="hourly_rate" type="number" min={0} step="0.01" inputMode="decimal" required value={f.rate} onValue={set("rate")} error={error} />
      <div class="row2">
        <Field label="City" name="city" autocomplete="address-level2" value={f.city} onValue={set("city")} error={error} />
        <Field label="Country" name="country" autocomplete="country-name" value={f.country} onValue={set("country")} error={error} />
      </div>
      <Select label="Availability" name="availability" value={f.availability} onValue={set("availability")} options={[["available", "Available"], ["busy", "Busy"], ["unavailable", "Unavailable"]]} />
      <button type="submit" disabled={busy}>
        {busy ? "Saving…" : profile ? "Save profile" : "Create profile"}
      </button>
      {saved && <p role="status">Profile saved.</p>}
    </form>
  );
}

function ServiceForm() {
  const cats = useCategoryOptions();
  const [f, setF] = useState({ title: "", description: "", price: "", duration: "", tags: "", category_id: "" });
  const set = (k: keyof typeof f) => (v: string) => setF({ ...f, [k]: v });
  const [submit, busy, error] = useSubmit(async () => {
    const amount = toMinor(f.price);
    const minutes = f.duration.trim() ? Number(f.duration) : null;
    const svc = await api<Service>("/api/services", {
      method: "POST",
      body: {
        title: f.title.trim(),
        description: f.description.trim(),
        ...(amount !== null ? { price: { amount, currency: "USD" } } : {}),
        ...(minutes !== null && Number.isFinite(minutes) ? { duration_minutes: minutes } : {}),
        ...(f.category_id ? { category_id: f.category_id } : {}),
        tags: f.tags.split(",").map((t) => t.trim()).filter(Boolean),
      },
    });
    navigate(`/services/${svc.id}`);
  });
  return (
    <form class="card form" onSubmit={submit} noValidate aria-labelledby="service-h">
      <h2 id="service-h">Offer a new service</h2>
      <ErrorBox error={error} />
      <Field label="Service title" name="title" required value={f.title} onValue={set("title")} error={error} />
      <TextArea label="Service description" name="description" required value={f.description} onValue={set("description")} error={error} />
      <div class="row2">
        <Field label="Price ($)" name="price" type="number" min={0} step="0.01" inputMode="decimal" required value={f.price} onValue={set("price")} error={error} />
        <Field label="Duration (minutes)" name="duration_minutes" type="number" min={1} step="1" inputMode="numeric" value={f.duration} onValue={set("duration")} error={error} />
      </div>
      <Select label="Category" name="category_id" value={f.category_id} onValue={set("category_id")} options={[["", "No category"], ...cats]} />
      <Field label="Tags (comma-separated)" name="tags" value={f.tags} onValue={set("tags")} error={error} />
      <button type="submit" disabled={busy}>
        {busy ? "Publishing…" : "Publish service"}
      </button>
    </form>
  );
}
