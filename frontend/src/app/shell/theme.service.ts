import { effect, Injectable, signal } from '@angular/core';

export type ThemeMode = 'system' | 'light' | 'dark';
const KEY = 'vicer.theme';
const ORDER: ThemeMode[] = ['system', 'light', 'dark'];

/**
 * Light or dark: the system's setting unless the user picked one (remembered in this browser). The Material theme is
 * built on `light-dark()`, so the page's `color-scheme` is all that changes.
 */
@Injectable({ providedIn: 'root' })
export class ThemeService {
  readonly mode = signal<ThemeMode>(readStored());

  constructor() {
    effect(() => {
      const mode = this.mode();
      document.documentElement.style.colorScheme = mode === 'system' ? 'light dark' : mode;
      try {
        if (mode === 'system') localStorage.removeItem(KEY);
        else localStorage.setItem(KEY, mode);
      } catch {
        // Storage refused (private mode): the choice lasts for this page only.
      }
    });
  }

  /** System → light → dark → system. */
  next(): void {
    this.mode.update((m) => ORDER[(ORDER.indexOf(m) + 1) % ORDER.length]);
  }
}

function readStored(): ThemeMode {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'light' || v === 'dark' ? v : 'system';
  } catch {
    return 'system';
  }
}
