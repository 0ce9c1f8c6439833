import { useEffect, useRef, useState } from "preact/hooks";
import type { ComponentType } from "preact";
import { location, match, navigate } from "./router.ts";
import { useStore } from "./store.ts";
import { logout, session } from "./api/session.ts";
import * as realtime from "./api/realtime.ts";
import { clear as clearNotifications, loadRecent } from "./api/notifications.ts";
import { Bell } from "./ui/Bell.tsx";
import { Loading } from "./ui/kit.tsx";
import { pageView } from "./api/pageviews.ts";
import { displayName } from "./api/users.ts";
import { Login, Signup, ResetPassword, VerifyEmail, Account } from "./pages/Auth.tsx";
import { ServiceList, ServiceDetail } from "./pages/Services.tsx";
import { ProviderList, ProviderDetail } from "./pages/Providers.tsx";
import { JobList, MyJobs, JobNew, JobDetail, MyProposals, ProposalRedirect } from "./pages/Jobs.tsx";
import { ContractList, ContractDetail } from "./pages/Contracts.tsx";
import { Chat } from "./pages/Chat.tsx";
import { NotificationsPage } from "./pages/Notifications.tsx";
import { BookingList, BookingDetail } from "./pages/Bookings.tsx";
import { NotFound } from "./pages/NotFound.tsx";
import { ProfilePage } from "./pages/Profile.tsx";
import { PaymentList, ReceiptPage } from "./pages/Payments.tsx";
import { WalletPage } from "./pages/Wallet.tsx";
import { AnalyticsPage } from "./pages/Analytics.tsx";

type Route = { path: string; page: ComponentType<{ params: Record<string, string> }>; auth?: boolean };

const routes: Route[] = [
  { path: "/login", page: Login },
  { path: "/signup", page: Signup },
  { path: "/reset-password", page: ResetPassword },
  { path: "/verify-email", page: VerifyEmail },
  { path: "/account", page: Account, auth: true },
  { path: "/profile", page: ProfilePage, auth: true },
  { path: "/services", page: ServiceList },
  { path: "/services/:id", page: ServiceDetail },
  { path: "/providers", page: ProviderList },
  { path: "/providers/:id", page: ProviderDetail },
  { path: "/jobs", page: JobList, auth: true },
  { path: "/jobs/mine", page: MyJobs, auth: true },
  { path: "/jobs/new", page: JobNew, auth: true },
  { path: "/jobs/:id", page: JobDetail, auth: true },
  { path: "/jobs/:id/proposals/:pid", page: JobDetail, auth: true },
  { path: "/proposals", page: MyProposals, auth: true },
  { path: "/proposals/:id", page: ProposalRedirect, auth: true },
  { path: "/contracts", page: ContractList, auth: true },
  { path: "/contracts/:id", page: ContractDetail, auth: true },
  { path: "/conversations", page: Chat, auth: true },
  { path: "/conversations/:id", page: Chat, auth: true },
  { path: "/alerts", page: NotificationsPage, auth: true },
  { path: "/bookings", page: BookingList, auth: true },
  { path: "/bookings/:id", page: BookingDetail, auth: true },
  { path: "/wallet", page: WalletPage, auth: true },
  { path: "/payments", page: PaymentList, auth: true },
  { path: "/payments/:id", page: ReceiptPage, auth: true },
  { path: "/insights", page: AnalyticsPage, auth: true },
  { path: "/insights/:view", page: AnalyticsPage, auth: true },
];

function resolve(path: string): [Route | null, Record<string, string>] {
  for (const r of routes) {
    const p = match(r.path, path);
    if (p) return [r, p];
  }
  return [null, {}];
}

export function App() {
  const loc = useStore(location);
  const s = useStore(session);
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);

  useEffect(() => {
    if (s.status === "signed-in") {
      loadRecent()
        .catch(() => {})
        .finally(() => realtime.start());
    } else if (s.status === "anonymous") {
      realtime.stop();
      clearNotifications();
    }
  }, [s.status === "signed-in" ? s.user.id : s.status]);

  // A page view once the page is known to be shown to this session (not while the session loads).
  useEffect(() => {
    if (s.status !== "loading") pageView(loc.path);
  }, [loc.path, s.status]);

  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus();
  }, [loc.path]);

  const [route, params] = resolve(loc.path);
  let body;
  if (loc.path === "/") {
    body = s.status === "loading" ? <Loading /> : <Redirect to={s.status === "signed-in" ? (s.user.role === "client" ? "/jobs/mine" : "/jobs") : "/services"} />;
  } else if (s.status === "loading") body = <Loading />; // pages render once, for the right user: no shift
  else if (!route) body = <NotFound />;
  else if (route.auth && s.status === "anonymous") {
    body = <Redirect to={`/login?next=${encodeURIComponent(loc.path + window.location.search)}`} />;
  } else {
    const Page = route.page;
    body = <Page params={params} key={route.path === "/conversations/:id" ? "/conversations" : route.path + JSON.stringify(params)} />;
  }

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <Header />
      <main id="main" ref={main} tabIndex={-1}>
        {body}
      </main>
    </>
  );
}

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, true), [to]);
  return <Loading />;
}

function NavLink({ href, children, badge }: { href: string; children: string; badge?: number }) {
  const loc = useStore(location);
  const current = loc.path === href || (href !== "/" && loc.path.startsWith(href + "/"));
  return (
    <a href={href} aria-current={current ? "page" : undefined}>
      {children}
      {badge ? <span class="sr-only">, {badge} unread</span> : null}
      {badge ? (
        <span class="count" aria-hidden="true">
          {badge}
        </span>
      ) : null}
    </a>
  );
}

function Header() {
  const s = useStore(session);
  const u = useStore(realtime.unread);
  const conn = useStore(realtime.status);
  const [menu, setMenu] = useState(false);
  const loc = useStore(location);
  useEffect(() => setMenu(false), [loc.path]);
  const user = s.status === "signed-in" ? s.user : null;
  return (
    <header class="top">
      <div class={user && (user.role === "provider" || user.role === "worker") ? "bar many" : "bar"}>
        <a class="brand" href="/">
          Agora
        </a>
        <button type="button" class="menu-toggle secondary" aria-expanded={menu} aria-controls="site-nav" onClick={() => setMenu(!menu)}>
          Menu
        </button>
        <nav id="site-nav" class={menu ? "open" : ""} aria-label="Main">
          <NavLink href="/services">Services</NavLink>
          <NavLink href="/providers">Providers</NavLink>
          {user && (user.role === "client" ? <NavLink href="/jobs/mine">My jobs</NavLink> : <NavLink href="/jobs">Jobs</NavLink>)}
          {user && user.role !== "client" && user.role !== "admin" && <NavLink href="/proposals">Proposals</NavLink>}
          {user && (user.role === "provider" || user.role === "worker") && <NavLink href="/profile">My profile</NavLink>}
          {user && <NavLink href="/contracts">Contracts</NavLink>}
          {user && <NavLink href="/bookings">Bookings</NavLink>}
          {user && (
            <NavLink href="/conversations" badge={u.conversations}>
              Messages
            </NavLink>
          )}
          {user && <NavLink href="/wallet">Wallet</NavLink>}
          {user && <NavLink href="/insights">Analytics</NavLink>}
        </nav>
        <div class="tools">
          {user ? (
            <>
              <span class={`conn conn-${conn}`} title={conn === "online" ? "Live updates on" : "Reconnecting…"}>
                <span class="sr-only">{conn === "online" ? "Live updates on" : "Live updates reconnecting"}</span>
              </span>
              <Bell />
              <a class="who" href="/account">
                {displayName(user)}
              </a>
              <button
                type="button"
                class="secondary"
                onClick={() => {
                  void logout().finally(() => navigate("/login"));
                }}
              >
                Log out
              </button>
            </>
          ) : s.status === "anonymous" ? (
            <>
              <a href="/login">Log in</a>
              <a class="button" href="/signup">
                Sign up
              </a>
            </>
          ) : null}
        </div>
      </div>
    </header>
  );
}
