// The wizard's Cancel: a source still a draft (not imported) is removed with its webhook, so that
// an abandoned setup leaves nothing behind; a finished source is never removed from here.

import { del, get } from "./api.js";
import { banner, h, replace } from "./dom.js";

const source = document.getElementById("main").dataset.source;
const path = `/sources/${encodeURIComponent(source)}`;
const button = document.getElementById("cancel-wizard");

async function start() {
  try {
    button.hidden = !(await get(path)).draft;
  } catch {
    button.hidden = true;
  }
}

button.addEventListener("click", async () => {
  if (!window.confirm(`Discard ${source}? Its webhook is deleted in Customer.io and nothing of it is kept.`)) return;
  button.disabled = true;
  try {
    const result = await del(path);
    if (result?.warning) {
      // Removed here, but Customer.io kept the webhook: say so before leaving.
      replace(document.getElementById("cancel-outcome"), banner("warning", `Discarded ${source}, with a warning`, result.warning,
        h("p", {}, h("a", { href: "/sources" }, "Back to the sources"))));
      return;
    }
    window.location.assign("/sources");
  } catch (error) {
    replace(document.getElementById("cancel-outcome"), banner("error", "The setup was not cancelled", error.message));
    button.disabled = false;
  }
});

start();
