import { render } from "preact";
import "./styles.css";
import { App } from "./App.tsx";
import { restore } from "./api/session.ts";

render(<App />, document.getElementById("app")!);
void restore();
