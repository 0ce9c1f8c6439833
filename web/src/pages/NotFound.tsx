import { useTitle } from "../ui/kit.tsx";

export function NotFound() {
  useTitle("Not found");
  return (
    <section class="page narrow">
      <h1>Page not found</h1>
      <p>
        There is nothing at this address. <a href="/">Go to the start page</a>.
      </p>
    </section>
  );
}
