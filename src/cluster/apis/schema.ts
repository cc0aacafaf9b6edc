import { z } from 'zod';

// Schema building blocks. Every object schema is strict: an unknown field is an error naming its path.

type Shape = Record<string, z.ZodType>;
type Optionalised<O extends Shape> = { [K in keyof O]: z.ZodOptional<O[K]> };

/** A strict object: `req` fields are required, `opt` fields optional. */
export function ob<R extends Shape, O extends Shape>(req: R, opt: O): z.ZodObject<R & Optionalised<O>, z.core.$strict> {
  const shape: Record<string, z.ZodType> = { ...req };
  for (const [k, v] of Object.entries(opt)) shape[k] = v.optional();
  return z.strictObject(shape) as unknown as z.ZodObject<R & Optionalised<O>, z.core.$strict>;
}

/** A strict object whose fields are all optional. */
export function po<O extends Shape>(opt: O): z.ZodObject<Optionalised<O>, z.core.$strict> {
  return ob({}, opt);
}

export const str = z.string();
export const int = z.number().int();
export const nonNegInt = z.number().int().min(0, 'must be greater than or equal to 0');
export const bool = z.boolean();
export const strMap = z.record(z.string(), z.string());
export const strList = z.array(z.string());
export const time = z.string();
export const intOrString = z.union([z.number().int(), z.string()]);

const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;
export const quantity = z.union([z.string().regex(QUANTITY, 'must be a quantity (e.g. 100m, 1Gi, 2)'), z.number()]);
export const resourceList = z.record(z.string(), quantity);

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function dnsLabelError(v: string): string | undefined {
  if (v.length > 63) return 'must be no more than 63 characters';
  if (!DNS1123_LABEL.test(v)) {
    return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
  }
  return undefined;
}

export function dnsSubdomainError(v: string): string | undefined {
  if (v.length > 253) return 'must be no more than 253 characters';
  if (!DNS1123_SUBDOMAIN.test(v)) {
    return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
  }
  return undefined;
}

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** Label and annotation keys: optional DNS subdomain prefix + '/' + name of at most 63 chars. */
export function qualifiedNameError(v: string): string | undefined {
  const parts = v.split('/');
  if (parts.length > 2) return 'a qualified name must have at most one "/"';
  const name = parts.length === 2 ? parts[1]! : parts[0]!;
  if (parts.length === 2) {
    const e = dnsSubdomainError(parts[0]!);
    if (e) return `prefix part ${e}`;
  }
  if (name.length === 0 || name.length > 63) return 'name part must be 1-63 characters';
  if (!QUALIFIED_NAME.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  }
  return undefined;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function labelValueError(v: string): string | undefined {
  if (v.length > 63) return 'must be no more than 63 characters';
  if (!LABEL_VALUE.test(v)) {
    return "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  }
  return undefined;
}

export const dnsLabel = z.string().superRefine((v, ctx) => {
  const e = dnsLabelError(v);
  if (e) ctx.addIssue({ code: 'custom', message: `Invalid value: "${v}": ${e}` });
});
