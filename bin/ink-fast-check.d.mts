// Types of bin/ink-fast-check.mjs (the check is plain JavaScript: the build runs it before tsc's output exists).
export declare const INK_OUTPUT_SHA256: string;
export declare const INK_FAST_IMPORTS: readonly string[];
export declare function inkFastProblems(repo: string, modules?: string): string[];
