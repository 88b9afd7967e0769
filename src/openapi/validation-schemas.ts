import { ApiProperty, ApiPropertyOptions } from '@nestjs/swagger';
import { getMetadataStorage } from 'class-validator';
import type { ValidationMetadata } from 'class-validator/types/metadata/ValidationMetadata';

type SchemaBits = Record<string, unknown>;

/** @nestjs/swagger's metadata key of @ApiProperty (its constants module is not exported). */
const API_MODEL_PROPERTIES = 'swagger/apiModelProperties';

/**
 * OpenAPI schema of one property from its class-validator decorators and its TypeScript type:
 * the validation rules are the single source, so the document cannot drift from what the API
 * accepts. Unknown validators add nothing (the property still appears, with its type).
 */
export function propertySchema(metas: ValidationMetadata[], designType: unknown, defaultValue: unknown): SchemaBits & { required: boolean } {
  const s: SchemaBits = {};
  let required = true;
  let isArray = designType === Array;
  const items: SchemaBits = {};
  const target = (m: ValidationMetadata): SchemaBits => (m.each ? items : s);
  for (const m of metas) {
    const c = (m.constraints ?? []) as unknown[];
    if (m.type === 'conditionalValidation') {
      required = false; // @IsOptional / @ValidateIf: not always present
      continue;
    }
    switch (m.name) {
      case 'isString':
        target(m).type = 'string';
        break;
      case 'isInt':
        target(m).type = 'integer';
        break;
      case 'isNumber':
        target(m).type = 'number';
        break;
      case 'isBoolean':
        target(m).type = 'boolean';
        break;
      case 'isEmail':
        Object.assign(target(m), { type: 'string', format: 'email' });
        break;
      case 'isUUID':
        Object.assign(target(m), { type: 'string', format: 'uuid' });
        break;
      case 'isISO8601':
      case 'isDateString':
      case 'isDate':
        Object.assign(target(m), { type: 'string', format: 'date-time' });
        break;
      case 'isIn':
        target(m).enum = c[0];
        break;
      case 'equals':
        target(m).enum = [c[0]];
        break;
      case 'min':
        target(m).minimum = c[0];
        break;
      case 'max':
        target(m).maximum = c[0];
        break;
      case 'isLength':
        target(m).minLength = c[0];
        if (c[1] !== undefined) target(m).maxLength = c[1];
        break;
      case 'minLength':
        target(m).minLength = c[0];
        break;
      case 'maxLength':
        target(m).maxLength = c[0];
        break;
      case 'matches':
        if (c[0] instanceof RegExp) target(m).pattern = c[0].source;
        else if (typeof c[0] === 'string') target(m).pattern = c[0];
        break;
      case 'isNotEmpty':
        if (target(m).type === 'string' && target(m).minLength === undefined) target(m).minLength = 1;
        break;
      case 'isArray':
        isArray = true;
        break;
      case 'arrayMinSize':
        isArray = true;
        s.minItems = c[0];
        break;
      case 'arrayMaxSize':
        isArray = true;
        s.maxItems = c[0];
        break;
      default:
        break;
    }
  }
  if (isArray) {
    const { minItems, maxItems } = s;
    const itemSchema = { type: 'string', ...items };
    return { type: 'array', items: itemSchema, ...(minItems !== undefined ? { minItems } : {}), ...(maxItems !== undefined ? { maxItems } : {}), required };
  }
  if (s.type === undefined) {
    if (s.enum) s.type = typeof (s.enum as unknown[])[0] === 'boolean' ? 'boolean' : typeof (s.enum as unknown[])[0] === 'number' ? 'number' : 'string';
    else if (designType === Number) s.type = 'number';
    else if (designType === Boolean) s.type = 'boolean';
    else if (designType === Date) Object.assign(s, { type: 'string', format: 'date-time' });
    else if (designType === Object) s.type = 'object';
    else s.type = 'string';
  }
  if (defaultValue !== undefined && typeof defaultValue !== 'object') s.default = defaultValue;
  return { ...s, required };
}

/**
 * Gives every class that has class-validator rules swagger property metadata derived from them
 * (properties already decorated with @ApiProperty keep theirs). Call before createDocument.
 */
export function applyValidationSchemas(): void {
  const storage = getMetadataStorage() as unknown as { validationMetadatas: Map<Function, ValidationMetadata[]> };
  for (const [target, metas] of storage.validationMetadatas) {
    if (typeof target !== 'function') continue;
    let instance: Record<string, unknown> = {};
    try {
      instance = new (target as new () => Record<string, unknown>)();
    } catch {
      // a class that needs constructor arguments: no defaults then
    }
    const byProperty = new Map<string, ValidationMetadata[]>();
    for (const m of metas) byProperty.set(m.propertyName, [...(byProperty.get(m.propertyName) ?? []), m]);
    for (const [property, list] of byProperty) {
      if (Reflect.getMetadata(API_MODEL_PROPERTIES, target.prototype, property)) continue;
      const designType = Reflect.getMetadata('design:type', target.prototype, property);
      const { required, ...schema } = propertySchema(list, designType, instance[property]);
      ApiProperty({ ...schema, required } as ApiPropertyOptions)(target.prototype, property);
    }
  }
}
