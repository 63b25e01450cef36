// The package's own declaration names the module 'domino' (its name before the scope), and this project compiles
// without the DOM library: the few DOM members the HTML source uses, typed here.
declare module '@mixmark-io/domino' {
  export interface DomElement {
    readonly nodeName: string;
    readonly textContent: string | null;
    readonly children: ArrayLike<DomElement>;
    readonly parentElement: DomElement | null;
    getAttribute(name: string): string | null;
    querySelector(selectors: string): DomElement | null;
    querySelectorAll(selectors: string): ArrayLike<DomElement>;
    closest(selectors: string): DomElement | null;
    remove(): void;
  }
  export interface DomDocument {
    readonly body: DomElement | null;
    querySelector(selectors: string): DomElement | null;
    querySelectorAll(selectors: string): ArrayLike<DomElement>;
  }
  export function createDocument(html?: string, force?: boolean): DomDocument;
}
