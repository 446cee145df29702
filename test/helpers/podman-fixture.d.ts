export declare const CONTAINERFILE: string;
export declare function ensureSubuidUser(name: string): number;
export declare function busyboxBuild(dir: string, busybox?: string): { tar: string; ctx: string };
export declare function stopPauseProcesses(user: string): void;
