/**
 * A real browser for the console's tests: Debian's `chromium` (.ci/run installs it) driven by
 * playwright-core, which ships no browser of its own. CHROMIUM_PATH overrides where it is.
 */
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";

export async function launchChromium(): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH ?? ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((path) => existsSync(path));
  if (!executablePath) throw new Error("no chromium here: apt-get install chromium (or set CHROMIUM_PATH)");
  // --no-sandbox: CI runs as root, where Chromium refuses its sandbox.
  return chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
}

/**
 * Text whose colour contrasts less than 4.5:1 (WCAG AA for normal text) with the first opaque
 * background behind it. A simple check: it ignores images and gradients, which the console has none of.
 */
export function lowContrastText(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const channels = (value: string): number[] | undefined => {
      const match = /rgba?\(([^)]+)\)/.exec(value);
      return match ? match[1]!.split(/[\s,/]+/).filter(Boolean).map(Number) : undefined;
    };
    const luminance = ([r, g, b]: number[]): number =>
      [r!, g!, b!].map((v) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4)).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i]!, 0);
    const background = (element: Element): number[] => {
      for (let node: Element | null = element; node; node = node.parentElement) {
        const color = channels(getComputedStyle(node).backgroundColor);
        if (color && (color[3] ?? 1) > 0.5) return color;
      }
      return [255, 255, 255];
    };
    const failures: string[] = [];
    for (const element of document.querySelectorAll("body *")) {
      const ownText = [...element.childNodes].some((node) => node.nodeType === Node.TEXT_NODE && node.textContent!.trim());
      if (!ownText || element.getClientRects().length === 0) continue;
      const style = getComputedStyle(element);
      if (style.visibility === "hidden") continue;
      const [light, dark] = [luminance(channels(style.color)!), luminance(background(element))].sort((a, b) => b - a);
      const ratio = (light! + 0.05) / (dark! + 0.05);
      if (ratio < 4.5) failures.push(`${element.tagName.toLowerCase()} "${element.textContent!.trim().slice(0, 40)}": ${ratio.toFixed(2)}:1`);
    }
    return failures;
  });
}
